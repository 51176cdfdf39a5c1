/*
 * Supervision and micro-recovery, after Erlang/OTP. The image holds a tree of supervisors
 * (supervisor 0 is the root); each module and each non-root supervisor is the child of exactly
 * one, in start order. When a module ends, its own restart policy says whether it comes back:
 *
 *   never       a trap ends the appliance (the "appliance failed" status); a return just ends it
 *   on-failure  a trap restarts it; a return ends it
 *   always      a trap or a return restarts it
 *
 * A restart is its supervisor's decision: the strategy picks which children restart with it
 * (one_for_one: itself; one_for_all: every child; rest_for_one: itself and the children after
 * it), a child supervisor restarting means its whole subtree does, and each restart is counted
 * against the supervisor's budget (max_restarts within window_ns). When the budget is spent,
 * the supervisor escalates: its parent treats it as a failed child (with the parent's strategy
 * and budget), or, at the root or with on_exhausted = fail, the appliance fails.
 *
 * Restarting a module is: close its handles, drop its instance, make a fresh one from the
 * image (memory, globals, tables), and run `_start` again from its task's entry, nothing of its
 * old frames left (module.c; the memory's pages are reused, wasm.c). The module that
 * ended does this itself, in its own task, right after the trap unwound it; the others of its
 * group are stopped wherever they were (blocked, preempted, or at a preemption point of a
 * kernel function: none holds state across a switch) and make their new instance themselves
 * when they run next. Modules that had finished stay finished.
 */
#include "kernel.h"

struct supervisor {
    struct ath_image_supervisor record;
    uint64_t *history;                 /* ring of restart times (ns), max_restarts long */
    uint32_t head, count;
};

static struct supervisor supervisors[ATH_SUPERVISORS_MAX];
static uint32_t supervisor_count;
static const struct ath_image *image;
static bool profile;                   /* athanor.profile=restart */

static ATH_NORETURN void tree_error(const char *what, const char *name)
{
    ath_kprintf("[athanor] boot error: supervision tree: %s %s\n", what, name);
    ath_fail(ATH_FAIL_BOOT);
}

/* The tree must be one: every module and every non-root supervisor listed by exactly the
 * parent its own record names, and no supervisor its own ancestor. */
void ath_supervisors_init(const struct ath_image *img)
{
    image = img;
    supervisor_count = img->supervisor_count;
    if (supervisor_count > ATH_SUPERVISORS_MAX)
        tree_error("too many supervisors:", "");
    uint32_t module_seen[ATH_TASKS_MAX] = { 0 }, supervisor_seen[ATH_SUPERVISORS_MAX] = { 0 };
    for (uint32_t i = 0; i < supervisor_count; i++) {
        struct supervisor *s = &supervisors[i];
        ath_image_supervisor_at(img, i, &s->record);
        if (s->record.max_restarts > ATH_RESTART_HISTORY_MAX)
            tree_error("too many restarts allowed by", s->record.name);
        s->history = ath_alloc(8 * (size_t)(s->record.max_restarts ? s->record.max_restarts : 1));
        if (!s->history)
            tree_error("no memory for", s->record.name);
        for (uint32_t c = 0; c < s->record.child_count; c++) {
            uint32_t child = ath_image_child(img, s->record.first_child + c);
            uint32_t index = child & ~ATH_IMAGE_CHILD_SUPERVISOR;
            if (child & ATH_IMAGE_CHILD_SUPERVISOR) {
                struct ath_image_supervisor kid;
                ath_image_supervisor_at(img, index, &kid);
                if (kid.parent != i || supervisor_seen[index]++)
                    tree_error("a supervisor listed by the wrong parent:", kid.name);
            } else {
                struct ath_task *t = ath_task_at(index);
                if (!t || t->record.supervisor != i || module_seen[index]++)
                    tree_error("a module listed by the wrong supervisor:", t ? t->record.name : "?");
            }
        }
    }
    for (uint32_t i = 0; i < ath_task_count(); i++)
        if (!module_seen[i])
            tree_error("no supervisor lists module", ath_task_at(i)->record.name);
    for (uint32_t i = 1; i < supervisor_count; i++) {
        if (!supervisor_seen[i])
            tree_error("no supervisor lists", supervisors[i].record.name);
        uint32_t at = i, steps = 0;
        while (at != 0 && steps++ <= supervisor_count)
            at = supervisors[at].record.parent;
        if (at != 0)
            tree_error("a cycle through", supervisors[i].record.name);
    }
    const char *p = ath_cmdline_get("athanor.profile");
    profile = p && !strcmp(p, "restart");
}

/* Counts a restart against the budget if it allows one more within the window. */
static bool budget_allows(struct supervisor *s, uint64_t now)
{
    uint32_t size = s->record.max_restarts;
    if (size == 0)
        return false;
    while (s->count && now - s->history[(s->head + size - s->count) % size] > s->record.window_ns)
        s->count--;
    if (s->count >= size)
        return false;
    s->history[s->head] = now;
    s->head = (s->head + 1) % size;
    s->count++;
    return true;
}

/* The modules (bits) in a child's subtree; supervisors in it start afresh. */
static uint64_t subtree(uint32_t child)
{
    uint32_t index = child & ~ATH_IMAGE_CHILD_SUPERVISOR;
    if (!(child & ATH_IMAGE_CHILD_SUPERVISOR))
        return 1ull << index;
    struct supervisor *s = &supervisors[index];
    s->head = s->count = 0;
    uint64_t modules = 0;
    for (uint32_t c = 0; c < s->record.child_count; c++)
        modules |= subtree(ath_image_child(image, s->record.first_child + c));
    return modules;
}

/* The modules that restart when `failed` (a child of s) fails, by s's strategy. */
static uint64_t group_of(struct supervisor *s, uint32_t failed)
{
    uint64_t modules = 0;
    bool after = false;
    for (uint32_t c = 0; c < s->record.child_count; c++) {
        uint32_t child = ath_image_child(image, s->record.first_child + c);
        bool is_failed = child == failed;
        after |= is_failed;
        if (is_failed || s->record.strategy == ATH_ONE_FOR_ALL ||
            (s->record.strategy == ATH_REST_FOR_ONE && after))
            modules |= subtree(child);
    }
    return modules;
}

static void print_profile(const struct ath_task *t)
{
    const uint64_t *s = t->steps;
    uint64_t ns[ATH_STEP_COUNT];
    for (int i = 1; i < ATH_STEP_COUNT; i++)
        ns[i] = ath_cycles_to_ns(s[i] - s[i - 1]);
    ath_kprintf("[supervisor]   %s: unwind %lu ns, decide %lu ns, free %lu ns, instantiate %lu ns, "
                "reset %lu ns\n", t->record.name, (unsigned long)ns[ATH_STEP_UNWOUND],
                (unsigned long)ns[ATH_STEP_DECIDED], (unsigned long)ns[ATH_STEP_FREED],
                (unsigned long)ns[ATH_STEP_INSTANTIATED], (unsigned long)ns[ATH_STEP_READY]);
}

/* t restarts because `failed` ended: its handles go now (nothing it opened survives, even if it
 * is stopped in a kernel function); its new instance is made by its own task when it runs
 * next (module.c), a preemptible piece of work that counts as its own. */
static void restart(struct ath_task *t, const struct ath_task *failed)
{
    ath_handles_reset(t);
    t->fresh_needed = true;
    t->restart.failed = failed->index;
    t->restart.trap_code = failed->trap_code;
    t->restart.since = failed->steps[ATH_STEP_TRAP];
}

void ath_supervisor_restarted(struct ath_task *t, const char *problem)
{
    if (problem) {
        ath_kprintf("[supervisor] cannot restart %s: %s\n", t->record.name, problem);
        ath_fail(ATH_FAIL_APPLIANCE);
    }
    const struct ath_task *failed = ath_task_at(t->restart.failed);
    t->steps[ATH_STEP_READY] = ath_arch_cycles();
    t->restarts++;
    t->restart_ns = ath_cycles_to_ns(t->steps[ATH_STEP_READY] - t->restart.since);
    ath_trace(ATH_TRACE_RESTART, t->index, t->restart_ns, 0);
    const char *kind = t->restart.trap_code ? ath_trap_name(t->restart.trap_code) : "returned";
    const char *trap = t->restart.trap_code ? "trap: " : "";
    unsigned long us = (unsigned long)((t->restart_ns + 500) / 1000);
    if (failed == t)
        ath_kprintf("[supervisor] restarted %s (%s%s) in %lu us\n", t->record.name, trap, kind, us);
    else
        ath_kprintf("[supervisor] restarted %s (with %s, %s%s) in %lu us\n", t->record.name,
                    failed->record.name, trap, kind, us);
    if (profile && failed == t)
        print_profile(t);
}

/* The module ended for good: its handles, instance and memory go (the memory a chunk at a
 * time: preemptible). A restart of its group meanwhile leaves it alone. */
static ATH_NORETURN void finish(struct ath_task *t)
{
    t->finishing = true;
    ath_handles_reset(t);
    if (t->instantiated) {
        alk_instance_free(&t->instance);
        t->instantiated = false;
    }
    ath_dma_unmap(t);
    ath_wasm_memory_release(t);
    ath_task_exit();
}

void ath_supervise(struct ath_task *task)
{
    bool trapped = task->trap_code != 0;
    if (!trapped && task->record.restart != ATH_RESTART_ALWAYS)
        finish(task);
    if (trapped && task->record.restart == ATH_RESTART_NEVER) {
        ath_module_report_trap(task);
        ath_fail(ATH_FAIL_APPLIANCE);
    }

    /* Whose budget: its supervisor's, or up the tree while budgets are spent. */
    uint64_t now = ath_clock_ns();
    uint32_t failed = task->index, at = task->record.supervisor;
    while (!budget_allows(&supervisors[at], now)) {
        struct supervisor *s = &supervisors[at];
        ath_trace(ATH_TRACE_ESCALATE, at, s->count, 0);
        bool last = s->record.on_exhausted == ATH_EXHAUSTED_FAIL ||
                    s->record.parent == ATH_IMAGE_NO_PARENT;
        ath_kprintf("[supervisor] %s: restart budget spent (%u restarts within %lu ms), %s%s\n",
                    s->record.name, s->record.max_restarts,
                    (unsigned long)(s->record.window_ns / 1000000),
                    last ? "the appliance fails" : "escalating to ",
                    last ? "" : supervisors[s->record.parent].record.name);
        if (last) {
            if (trapped)
                ath_module_report_trap(task);
            ath_fail(ATH_FAIL_APPLIANCE);
        }
        failed = ATH_IMAGE_CHILD_SUPERVISOR | at;
        at = s->record.parent;
    }
    uint64_t group = group_of(&supervisors[at], failed);
    task->steps[ATH_STEP_DECIDED] = ath_arch_cycles();

    /* Itself (when supervise returns, module.c makes its new instance), then the rest of the
     * group: stopped wherever they were and started afresh. */
    restart(task, task);
    for (uint32_t i = 0; i < ath_task_count(); i++) {
        struct ath_task *t = ath_task_at(i);
        if (t == task || !(group >> i & 1) || t->state == ATH_TASK_DONE || t->finishing)
            continue;
        ath_task_stop(t);
        restart(t, task);
        ath_task_start(t, ath_module_main);
    }
}
