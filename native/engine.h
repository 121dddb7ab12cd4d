/*
 * dlsynth native core: the public C interface.
 *
 * This header is both what the C sources include and the cffi `cdef` source: the build
 * script (native/build_engine.py) reads the text between the CDEF markers, drops the
 * preprocessor lines, and hands the rest to cffi. Keep declarations there plain C that
 * cffi's parser accepts (no macros in declarations).
 *
 * Prefixes: dls_ (sample and unit conversion of DLS data), fx_ (effects), eng_ (voice engine).
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

/* 1 when this build has AddressSanitizer compiled in (so tests can prove which build ran). */
int dls_built_with_sanitizer(void);

/* --- fx_: reverb and chorus (native/effects.c) --- */

/* Both units read a mono send bus and ADD their stereo wet output into out_left/out_right.
   Memory is allocated only by fx_*_new (NULL on failure or a sample rate outside
   1000..768000 Hz); process never allocates or locks, is denormal-safe and deterministic,
   and gives identical output however the stream is cut into blocks. in_mono may alias
   out_left or out_right. set and process must not run concurrently (the engine applies
   parameter changes on the render thread, between blocks). */
typedef struct fx_reverb fx_reverb;
typedef struct fx_chorus fx_chorus;

/* 8-line modulated FDN reverb. Defaults (FluidSynth's): room 0.2, damping 0, width 0.5,
   level 0.9. Parameters are clamped to 0..1. room_size sets the reverb time at DC with
   Freeverb's concave response (0.70 s at 0, 0.90 s at 0.2, 12.5 s at 1); damping
   shortens the reverb time at Nyquist (Freeverb-equivalent); width 0 = mono, 1 = fully
   decorrelated left/right; level is the linear output gain. */
fx_reverb *fx_reverb_new(double sample_rate);
void fx_reverb_free(fx_reverb *r);
void fx_reverb_set(fx_reverb *r, double room_size, double damping, double width, double level);
void fx_reverb_reset(fx_reverb *r);
void fx_reverb_process(fx_reverb *r, const float *in_mono, float *out_left, float *out_right,
                       size_t frames);
/* Designed reverb times (seconds) at DC and at Nyquist for the current settings. */
void fx_reverb_get_rt60(const fx_reverb *r, double *rt60_dc, double *rt60_nyquist);

/* Multi-voice chorus: voices 0..99, level 0..10 (linear; per-voice gain level/sqrt(voices),
   so total wet power is level^2 x input power for uncorrelated voices), speed_hz 0..20
   (LFO rate), depth_ms 0..256 (delay swing), type 0 = sine, 1 = triangle. Voice delays
   sweep from 2 ms to 2 ms + depth_ms. Defaults (FluidSynth's): 3, 2.0, 0.3, 8.0, sine. */
fx_chorus *fx_chorus_new(double sample_rate);
void fx_chorus_free(fx_chorus *c);
void fx_chorus_set(fx_chorus *c, int voices, double level, double speed_hz, double depth_ms,
                   int type);
void fx_chorus_reset(fx_chorus *c);
void fx_chorus_process(fx_chorus *c, const float *in_mono, float *out_left, float *out_right,
                       size_t frames);
/* Range (ms) swept by the voices' delays at the current settings. */
void fx_chorus_get_delay_range_ms(const fx_chorus *c, double *min_ms, double *max_ms);

/* CDEF-END */

#ifdef __cplusplus
}
#endif

#endif /* DLSYNTH_ENGINE_H */
