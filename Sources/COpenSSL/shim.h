#ifndef WSGATE_COPENSSL_SHIM_H
#define WSGATE_COPENSSL_SHIM_H
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/param_build.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/decoder.h>
#include <string.h>

/*
 * Small C wrappers for what Swift cannot call directly: function-like macros, and OSSL_PARAM
 * arrays. OSSL_PARAM stores raw pointers to its keys and values, so building one from bridged
 * Swift strings leaves dangling pointers; here every pointer outlives the call that reads it.
 */

/// OPENSSL_free is a macro (it passes __FILE__/__LINE__).
static inline void wsgate_openssl_free(void *ptr) { OPENSSL_free(ptr); }

/// An EVP_MAC_CTX for HMAC with `digest` ("SHA256", ...), initialised with `key`.
/// Returns NULL on failure; the caller owns the result (EVP_MAC_CTX_free).
static inline EVP_MAC_CTX *wsgate_hmac_ctx_new(const char *digest, const unsigned char *key, size_t key_len) {
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL) return NULL;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac); /* the context holds its own reference */
    if (ctx == NULL) return NULL;
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (EVP_MAC_init(ctx, key, key_len, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/// An RSA public key from big-endian modulus and exponent (JWK `n`, `e`; RFC 7518 §6.3.1).
static inline EVP_PKEY *wsgate_rsa_public_key(const unsigned char *n, size_t n_len,
                                              const unsigned char *e, size_t e_len) {
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    OSSL_PARAM *params = NULL;
    BIGNUM *bn_n = BN_bin2bn(n, (int)n_len, NULL);
    BIGNUM *bn_e = BN_bin2bn(e, (int)e_len, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bn_n == NULL || bn_e == NULL || bld == NULL) goto done;
    if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) != 1) goto done;
    if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) != 1) goto done;
    params = OSSL_PARAM_BLD_to_param(bld);
    if (params == NULL) goto done;
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1) goto done;
    if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) pkey = NULL;
done:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    return pkey;
}

/// Runs OpenSSL's public key check (point on curve, sane RSA parameters). 1 when it passes.
static inline int wsgate_public_key_check(EVP_PKEY *pkey) {
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (ctx == NULL) return 0;
    int ok = EVP_PKEY_public_check(ctx);
    EVP_PKEY_CTX_free(ctx);
    return ok == 1;
}

/// An EC public key on `group` ("P-256", "P-384") from its affine coordinates (JWK `x`, `y`;
/// RFC 7518 §6.2.1), checked to lie on the curve.
static inline EVP_PKEY *wsgate_ec_public_key(const char *group,
                                             const unsigned char *x, size_t x_len,
                                             const unsigned char *y, size_t y_len) {
    unsigned char point[1 + 66 + 66];
    if (x_len > 66 || y_len > 66) return NULL;
    point[0] = 0x04; /* uncompressed point, SEC 1 §2.3.3 */
    memcpy(point + 1, x, x_len);
    memcpy(point + 1 + x_len, y, y_len);
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, 1 + x_len + y_len);
    params[2] = OSSL_PARAM_construct_end();
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx == NULL) return NULL;
    if (EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        pkey = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    if (pkey != NULL && !wsgate_public_key_check(pkey)) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    return pkey;
}

/// An Ed25519 public key from its 32 raw bytes (JWK `x`; RFC 8037 §2).
static inline EVP_PKEY *wsgate_ed25519_public_key(const unsigned char *x, size_t x_len) {
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)x, x_len);
    params[1] = OSSL_PARAM_construct_end();
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "ED25519", NULL);
    if (ctx == NULL) return NULL;
    if (EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        pkey = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

/// Converts a DER ECDSA-Sig-Value into JOSE's fixed-width R‖S (RFC 7518 §3.4), each half
/// `half` bytes. Returns 1 on success.
static inline int wsgate_ecdsa_der_to_raw(const unsigned char *der, size_t der_len,
                                          unsigned char *out, size_t half) {
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    if (sig == NULL) return 0;
    const BIGNUM *r = NULL, *s = NULL;
    ECDSA_SIG_get0(sig, &r, &s);
    int ok = BN_bn2binpad(r, out, (int)half) == (int)half && BN_bn2binpad(s, out + half, (int)half) == (int)half;
    ECDSA_SIG_free(sig);
    return ok;
}

/// A fresh key pair: `type` "RSA" (with `rsa_bits`), "EC" (with `group` "P-256"/"P-384") or
/// "ED25519". NULL on failure; the caller owns the result.
static inline EVP_PKEY *wsgate_generate_key(const char *type, const char *group, unsigned int rsa_bits) {
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (ctx == NULL) return NULL;
    int ok = EVP_PKEY_keygen_init(ctx) == 1;
    if (ok && rsa_bits > 0) ok = EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)rsa_bits) == 1;
    if (ok && group != NULL) ok = EVP_PKEY_CTX_set_group_name(ctx, group) == 1;
    if (ok && EVP_PKEY_generate(ctx, &pkey) != 1) pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

/// PEM text of a key: SubjectPublicKeyInfo when `private_key` is 0, else unencrypted PKCS#8.
/// Writes at most `capacity` bytes into `out`; returns the full length (call again with a larger
/// buffer when it exceeds `capacity`), or -1 on failure. BIO_get_mem_data is a macro.
static inline long wsgate_key_pem(EVP_PKEY *pkey, int private_key, unsigned char *out, size_t capacity) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) return -1;
    int ok = private_key
        ? PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL)
        : PEM_write_bio_PUBKEY(bio, pkey);
    long length = -1;
    if (ok == 1) {
        char *data = NULL;
        length = BIO_get_mem_data(bio, &data);
        if (length >= 0 && out != NULL) memcpy(out, data, (size_t)length < capacity ? (size_t)length : capacity);
    }
    BIO_free(bio);
    return length;
}

/// A public key from PEM in a type-specific structure, e.g. PKCS#1 `BEGIN RSA PUBLIC KEY`
/// (RFC 8017 A.1.1), through OSSL_DECODER (the non-deprecated path). NULL on failure.
static inline EVP_PKEY *wsgate_decode_public_key(const unsigned char *pem, size_t pem_len, const char *structure, const char *type) {
    EVP_PKEY *pkey = NULL;
    OSSL_DECODER_CTX *ctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", structure, type, EVP_PKEY_PUBLIC_KEY, NULL, NULL);
    if (ctx == NULL) return NULL;
    const unsigned char *data = pem;
    size_t length = pem_len;
    if (OSSL_DECODER_from_data(ctx, &data, &length) != 1) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    OSSL_DECODER_CTX_free(ctx);
    return pkey;
}

#endif
