#include "fuzz_support.h"
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

int wsgate_fuzz_hmac_sha256_matches(const uint8_t *key, size_t key_len,
                                    const uint8_t *input, size_t input_len,
                                    const uint8_t *mac, size_t mac_len) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int out_len = 0;
    if (HMAC(EVP_sha256(), key, (int)key_len, input, input_len, out, &out_len) == NULL) return 0;
    return out_len == mac_len && CRYPTO_memcmp(out, mac, mac_len) == 0;
}

int wsgate_fuzz_es256_matches(const uint8_t *pem, size_t pem_len,
                              const uint8_t *input, size_t input_len,
                              const uint8_t *signature, size_t signature_len) {
    if (signature_len != 64) return 0;
    int ok = 0;
    EVP_PKEY *pkey = NULL;
    EVP_MD_CTX *ctx = NULL;
    ECDSA_SIG *sig = NULL;
    unsigned char *der = NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)pem_len);
    if (bio == NULL) goto done;
    pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    if (pkey == NULL) goto done;
    sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(signature, 32, NULL);
    BIGNUM *s = BN_bin2bn(signature + 32, 32, NULL);
    if (sig == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        goto done;
    }
    int der_len = i2d_ECDSA_SIG(sig, &der);
    if (der_len <= 0) goto done;
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) != 1) goto done;
    ok = EVP_DigestVerify(ctx, der, (size_t)der_len, input, input_len) == 1;
done:
    OPENSSL_free(der);
    EVP_MD_CTX_free(ctx);
    ECDSA_SIG_free(sig);
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    return ok;
}
