/*
 * dlsynth native core: the public C interface.
 *
 * This header is both what the C sources include and the cffi `cdef` source: the build
 * script (native/build_engine.py) reads the text between the CDEF markers, drops the
 * preprocessor lines, and hands the rest to cffi. Keep declarations there plain C that
 * cffi's parser accepts (no macros in declarations).
 *
 * Prefixes: dls_ (sample and unit conversion of DLS data).
 */
#ifndef DLSYNTH_ENGINE_H
#define DLSYNTH_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CDEF-BEGIN */

/* --- dls_: conversion of DLS sample data and units, in bulk (native/convert.c) --- */

/* 8-bit unsigned PCM (128 = silence) to 16-bit signed PCM: dst[i] = (src[i] - 128) * 256. */
void dls_u8_to_s16(const uint8_t *src, int16_t *dst, size_t count);

/* 16-bit signed PCM to float in [-1, 1): dst[i] = src[i] / 32768. */
void dls_s16_to_f32(const int16_t *src, float *dst, size_t count);

/* DLS 32-bit time (timecents * 65536) to seconds: 2^(v / 65536 / 1200);
   the value 0x80000000 (INT32_MIN) means 0 seconds. */
void dls_timecents_to_seconds(const int32_t *src, double *dst, size_t count);

/* DLS 32-bit absolute pitch (cents * 65536, 6900 cents = 440 Hz) to Hz. */
void dls_abs_pitch_to_hz(const int32_t *src, double *dst, size_t count);

/* DLS 32-bit gain (centibels * 65536) to decibels. */
void dls_gain_to_db(const int32_t *src, double *dst, size_t count);

/* Peak absolute value of 16-bit PCM (for level checks and summaries), 0..32768. */
int32_t dls_s16_peak(const int16_t *src, size_t count);

/* CDEF-END */

#ifdef __cplusplus
}
#endif

#endif /* DLSYNTH_ENGINE_H */
