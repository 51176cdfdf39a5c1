/* Allocation-heavy: builds and frees many binary trees with malloc/free (the binary-trees
 * benchmark shape) and checks them by counting nodes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct node { struct node *left, *right; };

static struct node *make(int32_t depth)
{
    struct node *n = malloc(sizeof *n);
    if (!n)
        exit(2);
    if (depth > 0) {
        n->left = make(depth - 1);
        n->right = make(depth - 1);
    } else {
        n->left = n->right = NULL;
    }
    return n;
}

static int32_t check(const struct node *n)
{
    return n->left ? 1 + check(n->left) + check(n->right) : 1;
}

static void release(struct node *n)
{
    if (n->left) {
        release(n->left);
        release(n->right);
    }
    free(n);
}

int main(int argc, char **argv)
{
    int32_t max_depth = argc > 1 ? atoi(argv[1]) : 16;
    struct node *long_lived = make(max_depth);
    for (int32_t depth = 4; depth <= max_depth; depth += 2) {
        int32_t iterations = 1 << (max_depth - depth + 4);
        int64_t total = 0;
        for (int32_t i = 0; i < iterations; i++) {
            struct node *t = make(depth);
            total += check(t);
            release(t);
        }
        printf("%d trees of depth %d: %lld nodes\n", iterations, depth, (long long)total);
    }
    printf("long lived tree of depth %d: %d nodes\n", max_depth, check(long_lived));
    release(long_lived);
    return 0;
}
