#ifndef WSGATE_FUZZ_SUPPORT_H
#define WSGATE_FUZZ_SUPPORT_H
#include <stddef.h>
#include <stdint.h>

/*
 * The fuzz oracles' own cryptography: one-shot OpenSSL calls that share no code with
 * GatewayAuth's verifier (its cached EVP_MAC/EVP_MD contexts), so a bug there cannot hide itself.
 */

/// 1 when `mac` is HMAC-SHA256(key, input), computed with OpenSSL's one-shot HMAC(); else 0.
int wsgate_fuzz_hmac_sha256_matches(const uint8_t *key, size_t key_len,
                                    const uint8_t *input, size_t input_len,
                                    const uint8_t *mac, size_t mac_len);

/// 1 when `signature` (JWS form: 32-byte r then 32-byte s, RFC 7518 §3.4) is a valid ES256
/// signature of `input` by the PEM public key; else 0. Converts to DER and verifies with a fresh
/// EVP_DigestVerify.
int wsgate_fuzz_es256_matches(const uint8_t *pem, size_t pem_len,
                              const uint8_t *input, size_t input_len,
                              const uint8_t *signature, size_t signature_len);

/// libFuzzer's driver (compiler-rt FuzzerInterface.h); present only in the fuzz build, where
/// `wsgate-fuzz` links libFuzzer and calls it from its own main.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
