/* The public key the verifier checks against (athanor/athanor.h declares it const). */
#include <string.h>

unsigned char ath_signing_pubkey_storage[32];

void set_public_key(const unsigned char key[32]);
void set_public_key(const unsigned char key[32])
{
    memcpy(ath_signing_pubkey_storage, key, 32);
}
