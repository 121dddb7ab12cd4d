/*
 * Built-in reverb and chorus (prefix fx_). See engine.h for the API.
 *
 * Both units take a mono send bus and ADD a stereo wet signal into the caller's left/right
 * buffers. All memory is allocated in fx_*_new (delay lines sized for the maximum at the
 * sample rate given there); fx_*_process never allocates, never locks, and keeps its whole
 * state in the object, one sample at a time, so the output does not depend on how the
 * caller cuts the stream into blocks. No rand(): every "random-looking" quantity is a fixed
 * constant, so two runs are bit-identical.
 *
 * Denormals: every recursive state (filter memories, allpass states, interpolator memories)
 * goes through fx_flush(), which sets values below FX_FLUSH_THRESHOLD (1e-15, -300 dBFS)
 * to exactly zero (a compare-and-mask, branch-free). Truncating toward zero, unlike the
 * classic add-and-subtract-a-constant trick, also leaves no rounding limit cycle: a tail
 * decays to exact zeros, never reaches the subnormal range, and never stalls the CPU.
 * Inputs are flushed the same way, and non-finite inputs are read as zero so one bad
 * sample cannot poison the state forever.
 *
 * SIMD: on a CPU with AVX2 the reverb's eight lines run as the lanes of one vector and the
 * chorus reads each tap's eight samples as one (fx_*_set_avx2; the engine's SIMD setting
 * switches them). Each lane does the scalar code's operations in its order, with no fused
 * multiply-add, and every sum of eight goes in the order a vector reduces it (fx_sum8),
 * in the scalar code too: both forms give the same output bit for bit.
 *
 * Idle fast path: each unit counts the frames since it last wrote a non-zero value into
 * any of its rings. Once that exceeds the ring sizes every ring holds only zeros, and a
 * block of silent input is then skipped in O(1): only the write index and LFO phases move,
 * exactly as the per-sample loop would have moved them, so the output is identical.
 *
 * ---------------------------------------------------------------------------------------
 * Reverb: an 8-line feedback delay network (Jot), in the spirit of FluidSynth's FDN reverb
 * but designed here from the textbook construction:
 *
 *   in --> tone corrector --> 3 series allpass diffusers --+--> (x b_i) --> line i --.
 *                                                          |                        |
 *          .-- Householder matrix  A = I - (2/N) 1 1^T <---+-- damping LPF i <------'
 *          |                                                        |
 *          '--> back into the lines                     taps sL_i, sR_i --> width/level
 *
 * - Line lengths are fixed times in ms, scaled to the sample rate and nudged to distinct
 *   primes, so the modes stay dense and non-coincident at any rate.
 * - Each line's read position is slowly modulated (about 0.1 ms at ~1 Hz, a different rate
 *   and phase per line) and read through a first-order allpass interpolator (unit gain at
 *   every frequency, so interpolation adds no damping of its own and the tail keeps its
 *   designed reverb time up to Nyquist): this breaks up the steady modes that make a
 *   static comb/FDN tail ring.
 * - Decay: room_size sets the DC reverb time with the same concave response as Freeverb
 *   (loop gain g = 0.7 + 0.28 room of a 1617-sample comb at 44.1 kHz: 0.70 s at 0,
 *   0.90 s at the default 0.2, 12.5 s at 1). damping sets the reverb time at Nyquist the
 *   way Freeverb's comb damping does (g * (1 - 0.4 d) / (1 + 0.4 d)). Each line gets a
 *   one-pole lowpass whose DC and Nyquist gains are exactly those two decay rates over the
 *   line's length, so every mode decays at the designed rate whatever line carries it.
 * - A first-order tone corrector on the input restores the initial spectrum that the
 *   frequency-dependent decay would otherwise tilt (energy of a mode ~ its T60).
 * - Stereo: left and right read the lines through two orthogonal sign vectors (both
 *   orthogonal to the all-ones eigenvector of A), so the two outputs are uncorrelated;
 *   width mixes them like Freeverb (wet1 = (1+w)/2, wet2 = (1-w)/2).
 * - Level is calibrated so the steady-state wet power for white noise is about that of
 *   Freeverb at the same settings.
 *
 * Chorus: one delay line shared by up to FX_CHORUS_MAX_VOICES taps. Voice v reads at
 *   delay(t) = FX_CHORUS_MIN_DELAY_MS + depth * (1 + lfo(phase + v / voices)) / 2
 * with a sine or triangle LFO, band-limited (windowed-sinc) interpolation, and equal-power
 * panning that spreads the voices from left to right. Per-voice gain is level / sqrt(voices), so the
 * total wet power (left + right) is level^2 times the input power for uncorrelated voices.
 */
#include "engine.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FX_X86 1
#else
#define FX_X86 0
#endif

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* ----------------------------------------------------------------------------------------
 * Shared helpers
 * -------------------------------------------------------------------------------------- */

#define FX_FLUSH_THRESHOLD 1e-15f /* magnitudes below this (-300 dBFS) become exact zero */
#define FX_SINE_BITS 10
#define FX_SINE_SIZE (1 << FX_SINE_BITS)
#define FX_SINE_SHIFT (32 - FX_SINE_BITS)
#define FX_SINE_FRAC (1.0f / (float)(1u << FX_SINE_SHIFT))

static inline float fx_flush(float x)
{
    return fabsf(x) < FX_FLUSH_THRESHOLD ? 0.0f : x;
}

/* True when every sample of the block is exactly zero (the idle fast path's test). */
static int fx_all_zero(const float *x, size_t frames)
{
    for (size_t n = 0; n < frames; n++)
        if (x[n] != 0.0f)
            return 0;
    return 1;
}

static inline float fx_sanitize(float x)
{
    /* NaN and +-inf (and absurd magnitudes) read as silence. */
    if (!(fabsf(x) <= 1e30f))
        return 0.0f;
    return fx_flush(x);
}

/* The sum of 8 values in the order an 8-lane vector reduces them (halves, then pairs):
   ((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7)). The scalar and SIMD paths both sum
   this way, so they give the same bits. */
static inline float fx_sum8(const float v[8])
{
    return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}

/* 1 when this CPU runs AVX2 and DLSYNTH_NO_AVX2 is not set (the engine's rule). */
static int fx_avx2_default(void)
{
#if FX_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && getenv("DLSYNTH_NO_AVX2") == NULL;
#else
    return 0;
#endif
}

static void fx_fill_sine(float *table)
{
    for (int i = 0; i <= FX_SINE_SIZE; i++)
        table[i] = (float)sin(2.0 * M_PI * (double)i / (double)FX_SINE_SIZE);
}

/* Sine of a 32-bit phase (2^32 = one turn), table lookup with linear interpolation. */
static inline float fx_sine(const float *table, uint32_t phase)
{
    uint32_t idx = phase >> FX_SINE_SHIFT;
    float frac = (float)(phase & ((1u << FX_SINE_SHIFT) - 1u)) * FX_SINE_FRAC;
    float a = table[idx];
    return a + frac * (table[idx + 1] - a);
}

/* Triangle of a 32-bit phase, -1..1, same zero crossing and slope sign as the sine. */
static inline float fx_triangle(uint32_t phase)
{
    /* Shift by a quarter turn so that phase 0 -> 0 rising, like sin. */
    uint32_t p = phase + 0x40000000u;                       /* -1 at p = 0 */
    float u = (float)(p >> 8) * (1.0f / 16777216.0f);      /* 0..1 */
    return 1.0f - 4.0f * fabsf(u - 0.5f);
}

static inline uint32_t fx_phase_inc(double hz, double sample_rate)
{
    double turns = hz / sample_rate;
    if (!(turns > 0.0))
        return 0;
    if (turns > 0.5)
        turns = 0.5;
    return (uint32_t)llround(turns * 4294967296.0);
}

static uint32_t fx_pow2_at_least(uint32_t n)
{
    uint32_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

static int fx_is_prime(uint32_t n)
{
    if (n < 2)
        return 0;
    if (n % 2 == 0)
        return n == 2;
    for (uint32_t d = 3; d * d <= n; d += 2)
        if (n % d == 0)
            return 0;
    return 1;
}

static uint32_t fx_next_prime(uint32_t n)
{
    while (!fx_is_prime(n))
        n++;
    return n;
}

/*
 * Band-limited fractional delay for the chorus: an 8-tap Kaiser-windowed sinc (beta 4.5),
 * tabulated at FX_SINC_PHASES fractions (nearest phase; 1/1024-sample timing error at
 * most). Each phase is normalised to unit DC gain. Unlike a 4-point cubic, whose top
 * octave droops by up to 3.5 dB at 15 kHz (44.1 kHz) and wobbles with the fraction, this
 * stays within 0.2 dB up to 15 kHz at every fraction, so the chorus does not dull or
 * flutter the highs. Taps k = -3..4 read buf[w - D - k] with D the integer delay.
 */
#define FX_SINC_TAPS 8
#define FX_SINC_PHASES 512
#define FX_SINC_BETA 4.5

static double fx_bessel_i0(double x)
{
    double sum = 1.0, term = 1.0;
    for (int k = 1; k < 40; k++) {
        double q = x / (2.0 * k);
        term *= q * q;
        sum += term;
        if (term < 1e-17 * sum)
            break;
    }
    return sum;
}

static void fx_fill_sinc(float *table)
{
    const double half = FX_SINC_TAPS / 2;
    for (int p = 0; p <= FX_SINC_PHASES; p++) {
        double f = (double)p / FX_SINC_PHASES;
        double h[FX_SINC_TAPS], sum = 0.0;
        for (int j = 0; j < FX_SINC_TAPS; j++) {
            double t = (double)(j - (FX_SINC_TAPS / 2 - 1)) - f; /* tap offset k - f */
            double sinc = fabs(t) < 1e-12 ? 1.0 : sin(M_PI * t) / (M_PI * t);
            double u = t / half;
            double win = u * u < 1.0 ? fx_bessel_i0(FX_SINC_BETA * sqrt(1.0 - u * u)) : 0.0;
            h[j] = sinc * win / fx_bessel_i0(FX_SINC_BETA);
            sum += h[j];
        }
        for (int j = 0; j < FX_SINC_TAPS; j++)
            table[p * FX_SINC_TAPS + j] = (float)(h[j] / sum);
    }
}

/* Read at a fractional delay behind `w`, the newest written sample (delay 0 = buf[w]).
   Needs delay >= FX_SINC_TAPS / 2 - 1 and a ring larger than delay + FX_SINC_TAPS / 2.
   The taps' products are summed as fx_sum8 sums lane k = tap 7 - k (the oldest sample
   first, as they lie in memory), which is what the AVX2 read does. */
_Static_assert(FX_SINC_TAPS == 8, "fx_read_sinc sums exactly eight taps");
static inline float fx_read_sinc(const float *buf, uint32_t mask, uint32_t w, float delay,
                                 const float *table)
{
    int32_t di = (int32_t)delay;
    int32_t p = (int32_t)((delay - (float)di) * (float)FX_SINC_PHASES + 0.5f);
    const float *h = table + p * FX_SINC_TAPS;
    uint32_t i = w - (uint32_t)di + (uint32_t)(FX_SINC_TAPS / 2 - 1); /* tap k = -3 */
    float t[FX_SINC_TAPS];
    for (int k = 0; k < FX_SINC_TAPS; k++)
        t[k] = h[FX_SINC_TAPS - 1 - k] * buf[(i - (uint32_t)(FX_SINC_TAPS - 1 - k)) & mask];
    return fx_sum8(t);
}

/* ----------------------------------------------------------------------------------------
 * Reverb
 * -------------------------------------------------------------------------------------- */

#define FX_REV_LINES 8 /* the lanes of one AVX2 vector, summed by fx_sum8 */
_Static_assert(FX_REV_LINES == 8, "fx_sum8 and the AVX2 loop sum exactly eight lines");
#define FX_REV_DIFFUSERS 3
#define FX_REV_MOD_DEPTH_MS 0.1   /* delay modulation depth (peak), ms */
#define FX_REV_DIFFUSER_GAIN 0.6f /* allpass coefficient of the input diffusers */
/* Freeverb-equivalent decay reference: a 1617-sample comb at 44.1 kHz. */
#define FX_REV_REF_SECONDS (1617.0 / 44100.0)
/* Output calibration against Freeverb's steady-state noise level (see fx_reverb_update). */
#define FX_REV_OUT_SCALE 0.29

/* Nominal line lengths (ms); at any rate they are scaled and nudged to distinct primes. */
static const double fx_rev_line_ms[FX_REV_LINES] = {
    19.3, 22.1, 24.9, 27.7, 30.7, 33.9, 37.3, 41.1,
};
/* LFO rate (Hz) of each line's delay modulation: all different, none harmonic. */
static const double fx_rev_mod_hz[FX_REV_LINES] = {
    0.53, 0.61, 0.71, 0.79, 0.89, 0.97, 1.07, 1.19,
};
/* Input diffuser allpass lengths (ms). */
static const double fx_rev_diffuser_ms[FX_REV_DIFFUSERS] = {4.77, 3.59, 2.73};
/* Input injection signs and the two output tap sign vectors. sL, sR and the all-ones
   vector are mutually orthogonal. */
static const float fx_rev_in_sign[FX_REV_LINES] = {1, -1, 1, 1, -1, 1, -1, -1};
static const float fx_rev_l_sign[FX_REV_LINES] = {1, -1, 1, -1, 1, -1, 1, -1};
static const float fx_rev_r_sign[FX_REV_LINES] = {1, 1, -1, -1, 1, 1, -1, -1};

struct fx_reverb {
    double sample_rate;     /* Hz */
    /* parameters as set */
    double room_size, damping, width, level;
    double rt60_dc, rt60_nyquist; /* seconds, derived */

    /* tone corrector: y = (x - beta x[n-1]) * tone_gain */
    float tone_beta, tone_gain, tone_prev;

    /* input diffusers: Schroeder allpasses, each its own power-of-two ring */
    float *diff_buf[FX_REV_DIFFUSERS];
    uint32_t diff_mask[FX_REV_DIFFUSERS];
    uint32_t diff_len[FX_REV_DIFFUSERS]; /* frames */

    /* FDN lines: one ring each, same power-of-two size, shared write index */
    float *line[FX_REV_LINES];
    uint32_t line_mask;
    float line_delay[FX_REV_LINES];  /* nominal read delay, frames (prime) */
    float mod_depth;                 /* peak modulation, frames */
    uint32_t mod_phase[FX_REV_LINES];
    uint32_t mod_inc[FX_REV_LINES];    /* modulation LFO phase step per frame (2^32 = one cycle) */
    uint32_t mod_phase0[FX_REV_LINES]; /* its starting phase (2^32 = one cycle) */
    float lp_b0[FX_REV_LINES], lp_a1[FX_REV_LINES], lp_state[FX_REV_LINES];
    float ap_state[FX_REV_LINES];    /* allpass interpolator's previous output */

    float in_gain;          /* per-line input gain */
    float wet1, wet2;       /* output mix (includes level and calibration) */

    uint32_t w;             /* write index (frames processed, mod 2^32) */
    uint32_t diff_w;
    uint32_t quiet;         /* frames since a non-zero value was written (saturating) */
    uint32_t idle_after;    /* quiet frames after which every ring holds only zeros */

    float *memory;          /* one allocation for every ring (the lines first, line i at
                               i * (line_mask + 1)) */
    size_t memory_floats;
    int avx2;               /* 1: the eight lines run as the lanes of one AVX2 vector */
    float sine[FX_SINE_SIZE + 1];
};

static void fx_reverb_update(fx_reverb *r)
{
    const double fs = r->sample_rate;
    double g = 0.7 + 0.28 * r->room_size;              /* Freeverb's comb feedback */
    double d = 0.4 * r->damping;                      /* Freeverb's damp1 */
    double g_ny = g * (1.0 - d) / (1.0 + d);          /* its loop gain at Nyquist */
    r->rt60_dc = -3.0 * FX_REV_REF_SECONDS / log10(g);
    r->rt60_nyquist = -3.0 * FX_REV_REF_SECONDS / log10(g_ny);

    for (int i = 0; i < FX_REV_LINES; i++) {
        double m = (double)r->line_delay[i];
        double gdc = pow(10.0, -3.0 * m / (r->rt60_dc * fs));
        double gny = pow(10.0, -3.0 * m / (r->rt60_nyquist * fs));
        double a1 = (gdc - gny) / (gdc + gny);        /* pole of the one-pole lowpass */
        r->lp_b0[i] = (float)(gdc * (1.0 - a1));      /* DC gain gdc, Nyquist gain gny */
        r->lp_a1[i] = (float)a1;
    }

    /* Tone corrector: DC gain 1, Nyquist gain sqrt(T60dc / T60ny). */
    double c = sqrt(r->rt60_dc / r->rt60_nyquist);
    double beta = (c - 1.0) / (c + 1.0);
    r->tone_beta = (float)beta;
    r->tone_gain = (float)(1.0 / (1.0 - beta));

    /* Output level: FX_REV_OUT_SCALE makes the steady-state wet power for white noise
       equal to Freeverb's (8 combs fed 0.03 x, output x3) at the default room; measured,
       it stays within about 2 dB of Freeverb's from room 0 to room 1. wet1/wet2 are
       Freeverb's width mix. */
    double wet = r->level * FX_REV_OUT_SCALE;
    r->wet1 = (float)(wet * (1.0 + r->width) * 0.5);
    r->wet2 = (float)(wet * (1.0 - r->width) * 0.5);
}

fx_reverb *fx_reverb_new(double sample_rate)
{
    if (!(sample_rate >= 1000.0 && sample_rate <= 768000.0))
        return NULL;
    fx_reverb *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->sample_rate = sample_rate;
    r->avx2 = fx_avx2_default();
    fx_fill_sine(r->sine);

    /* Line lengths: distinct primes near the nominal times. */
    r->mod_depth = (float)(FX_REV_MOD_DEPTH_MS * 1e-3 * sample_rate);
    uint32_t longest = 0, prev = 0;
    for (int i = 0; i < FX_REV_LINES; i++) {
        uint32_t n = (uint32_t)llround(fx_rev_line_ms[i] * 1e-3 * sample_rate);
        if (n < 8)
            n = 8;
        n = fx_next_prime(n > prev ? n : prev + 1);
        prev = n;
        r->line_delay[i] = (float)n;
        if (n > longest)
            longest = n;
        r->mod_inc[i] = fx_phase_inc(fx_rev_mod_hz[i], sample_rate);
        r->mod_phase0[i] = (uint32_t)((uint64_t)i * 0x100000000ull / FX_REV_LINES);
    }
    r->line_mask = fx_pow2_at_least(longest + (uint32_t)ceil(r->mod_depth) + 4u) - 1u;

    size_t total = (size_t)(r->line_mask + 1u) * FX_REV_LINES;
    for (int k = 0; k < FX_REV_DIFFUSERS; k++) {
        uint32_t n = fx_next_prime((uint32_t)llround(fx_rev_diffuser_ms[k] * 1e-3 * sample_rate));
        r->diff_len[k] = n;
        r->diff_mask[k] = fx_pow2_at_least(n + 1u) - 1u;
        total += (size_t)r->diff_mask[k] + 1u;
    }
    r->memory = calloc(total, sizeof(float));
    if (!r->memory) {
        free(r);
        return NULL;
    }
    r->memory_floats = total;
    float *p = r->memory;
    for (int i = 0; i < FX_REV_LINES; i++) {
        r->line[i] = p;
        p += r->line_mask + 1u;
    }
    for (int k = 0; k < FX_REV_DIFFUSERS; k++) {
        r->diff_buf[k] = p;
        p += r->diff_mask[k] + 1u;
    }
    r->in_gain = (float)(1.0 / sqrt((double)FX_REV_LINES));
    r->idle_after = r->line_mask + 1u;
    for (int k = 0; k < FX_REV_DIFFUSERS; k++)
        if (r->diff_mask[k] + 1u > r->idle_after)
            r->idle_after = r->diff_mask[k] + 1u;

    fx_reverb_reset(r);
    fx_reverb_set(r, 0.2, 0.0, 0.5, 0.9); /* FluidSynth's defaults */
    return r;
}

void fx_reverb_free(fx_reverb *r)
{
    if (!r)
        return;
    free(r->memory);
    free(r);
}

static double fx_clamp(double v, double lo, double hi)
{
    if (!(v >= lo)) /* also catches NaN */
        return lo;
    return v > hi ? hi : v;
}

void fx_reverb_set(fx_reverb *r, double room_size, double damping, double width, double level)
{
    if (!r)
        return;
    r->room_size = fx_clamp(room_size, 0.0, 1.0);
    r->damping = fx_clamp(damping, 0.0, 1.0);
    r->width = fx_clamp(width, 0.0, 1.0);
    r->level = fx_clamp(level, 0.0, 1.0);
    fx_reverb_update(r);
}

void fx_reverb_reset(fx_reverb *r)
{
    if (!r)
        return;
    memset(r->memory, 0, r->memory_floats * sizeof(float));
    for (int i = 0; i < FX_REV_LINES; i++) {
        r->lp_state[i] = 0.0f;
        r->ap_state[i] = 0.0f;
        r->mod_phase[i] = r->mod_phase0[i];
    }
    r->tone_prev = 0.0f;
    r->w = 0;
    r->diff_w = 0;
    r->quiet = UINT32_MAX; /* all zero: idle */
}

void fx_reverb_get_rt60(const fx_reverb *r, double *rt60_dc, double *rt60_nyquist)
{
    if (!r)
        return;
    if (rt60_dc)
        *rt60_dc = r->rt60_dc;
    if (rt60_nyquist)
        *rt60_nyquist = r->rt60_nyquist;
}

/* Rings are known to be zero from the quiet count; the per-line memories are checked. */
static int fx_reverb_states_zero(const fx_reverb *r)
{
    for (int i = 0; i < FX_REV_LINES; i++)
        if (r->lp_state[i] != 0.0f || r->ap_state[i] != 0.0f)
            return 0;
    return r->tone_prev == 0.0f;
}

/* Idle and silent (every ring and per-line memory zero, the input all zeros): move only
   the indices and LFO phases, as the per-sample loop would; 1 when the block was skipped.
   Allocates nothing, takes no lock. */
static inline int fx_reverb_skip_idle(fx_reverb *r, const float *in_mono, size_t frames)
{
    if (!(r->quiet > r->idle_after && fx_reverb_states_zero(r) && fx_all_zero(in_mono, frames)))
        return 0;
    uint32_t adv = (uint32_t)frames; /* modular arithmetic: exact for any frames */
    r->w += adv;
    r->diff_w += adv;
    for (int i = 0; i < FX_REV_LINES; i++)
        r->mod_phase[i] += r->mod_inc[i] * adv;
    return 1;
}

/* The FDN lines' state for one block, in locals: the compiler cannot keep struct fields in
   registers across the line writes (a float store may alias them). */
typedef struct {
    float *line[FX_REV_LINES];
    uint32_t mod_phase[FX_REV_LINES], mod_inc[FX_REV_LINES];
    float ap_state[FX_REV_LINES], lp_state[FX_REV_LINES];
    float lp_b0[FX_REV_LINES], lp_a1[FX_REV_LINES];
    float base_delay[FX_REV_LINES]; /* nominal read delay - 0.5, frames */
} fx_rev_lines;

/* Copy the lines' state out of the object for a block. Allocates nothing, takes no lock. */
static inline void fx_rev_lines_load(const fx_reverb *r, fx_rev_lines *b)
{
    for (int i = 0; i < FX_REV_LINES; i++) {
        b->line[i] = r->line[i];
        b->mod_phase[i] = r->mod_phase[i];
        b->mod_inc[i] = r->mod_inc[i];
        b->ap_state[i] = r->ap_state[i];
        b->lp_state[i] = r->lp_state[i];
        b->lp_b0[i] = r->lp_b0[i];
        b->lp_a1[i] = r->lp_a1[i];
        b->base_delay[i] = r->line_delay[i] - 0.5f;
    }
}

/* Store back what a block changed of the lines' state. Allocates nothing, takes no lock. */
static inline void fx_rev_lines_store(fx_reverb *r, const fx_rev_lines *b)
{
    for (int i = 0; i < FX_REV_LINES; i++) {
        r->mod_phase[i] = b->mod_phase[i];
        r->ap_state[i] = b->ap_state[i];
        r->lp_state[i] = b->lp_state[i];
    }
}

/* Input diffusion through the series allpasses at diffuser write index dw: v[n] = t + g v[n-M];
   out = v[n-M] - g v[n]. Sets *active when it writes a non-zero value. Allocates nothing,
   takes no lock. */
static inline float fx_rev_diffuse(fx_reverb *r, float t, uint32_t dw, int *active)
{
    const float ga = FX_REV_DIFFUSER_GAIN;
    for (int k = 0; k < FX_REV_DIFFUSERS; k++) {
        float *buf = r->diff_buf[k];
        uint32_t dm = r->diff_mask[k];
        float delayed = buf[(dw - r->diff_len[k]) & dm];
        float v = fx_flush(t + ga * delayed);
        buf[dw & dm] = v;
        *active |= v != 0.0f;
        t = delayed - ga * v;
    }
    return t;
}

/* Read every line at write index w (modulated, interpolated) and damp it into y[]; the two
   output taps into *out_l, *out_r and the sum of y (each summed as fx_sum8 does). Lines
   hold frames up to w - 1: this frame's write comes after the reads. Allocates nothing,
   takes no lock. */
static inline float fx_rev_read_lines(fx_rev_lines *b, const float *sine, float mod_depth, uint32_t mask,
                                      uint32_t w, float *y, float *out_l, float *out_r)
{
    float tl[FX_REV_LINES], tr[FX_REV_LINES];
    for (int i = 0; i < FX_REV_LINES; i++) {
        float mod = fx_sine(sine, b->mod_phase[i]) * mod_depth;
        b->mod_phase[i] += b->mod_inc[i];
        /* Delay D = Di + frac with frac in [0.5, 1.5): first-order allpass interpolation
           between line[w - Di] and line[w - Di - 1] (unit magnitude at every frequency, so
           it adds no damping of its own; keeping the fraction away from 0 keeps the allpass
           pole, -eta, small). */
        float d = b->base_delay[i] + mod;
        int32_t di = (int32_t)d;
        float frac = d - (float)di + 0.5f;
        float eta = (1.0f - frac) / (1.0f + frac);
        const float *ln = b->line[i];
        float s = eta * ln[(w - (uint32_t)di) & mask] + ln[(w - (uint32_t)di - 1u) & mask] - eta * b->ap_state[i];
        s = fx_flush(s);
        b->ap_state[i] = s;
        float lp = fx_flush(b->lp_b0[i] * s + b->lp_a1[i] * b->lp_state[i]);
        b->lp_state[i] = lp;
        y[i] = lp;
        tl[i] = fx_rev_l_sign[i] * lp;
        tr[i] = fx_rev_r_sign[i] * lp;
    }
    *out_l = fx_sum8(tl);
    *out_r = fx_sum8(tr);
    return fx_sum8(y);
}

/* Mix the damped outputs through the Householder matrix (hsum: their sum times 2/N), add
   the input and write every line at w; 1 when a non-zero value was written. Allocates
   nothing, takes no lock. */
static inline int fx_rev_write_lines(fx_rev_lines *b, const float *y, float hsum, float feed, uint32_t mask,
                                     uint32_t w)
{
    int active = 0;
    for (int i = 0; i < FX_REV_LINES; i++) {
        float v = y[i] - hsum + fx_rev_in_sign[i] * feed;
        b->line[i][w & mask] = v;
        active |= v != 0.0f;
    }
    return active;
}

/* The input side of one frame: sanitise, tone-correct and diffuse x; the line feed (times
   the per-line input gain). Sets *active when x or a diffuser value is non-zero. */
static inline float fx_rev_feed(fx_reverb *r, float x, float *tone_prev, uint32_t dw, float in_gain, int *active)
{
    /* Tone corrector (FIR, no state to flush beyond the input). */
    float t = (x - r->tone_beta * *tone_prev) * r->tone_gain;
    *tone_prev = x;
    *active = x != 0.0f; /* then tone_prev is zero after any quiet frame */
    return fx_rev_diffuse(r, t, dw, active) * in_gain;
}

/* Quiet: zero input and only zeros written. After idle_after quiet frames every ring slot
   has been overwritten with zero; the fast path also checks the per-line memories before
   it skips anything. */
static inline uint32_t fx_rev_quiet(uint32_t quiet, int active)
{
    return active ? 0u : (quiet == UINT32_MAX ? quiet : quiet + 1u);
}

/* The per-frame loop, one line after another. */
static void fx_reverb_run_scalar(fx_reverb *r, const float *in_mono, float *out_left, float *out_right,
                                 size_t frames)
{
    const uint32_t mask = r->line_mask;
    const float in_gain = r->in_gain, wet1 = r->wet1, wet2 = r->wet2;
    const float mod_depth = r->mod_depth;
    const float hh = 2.0f / (float)FX_REV_LINES; /* Householder factor */
    float tone_prev = r->tone_prev;
    uint32_t w = r->w, dw = r->diff_w, quiet = r->quiet;
    float y[FX_REV_LINES];
    fx_rev_lines b;
    fx_rev_lines_load(r, &b);
    const float *sine = r->sine;

    for (size_t n = 0; n < frames; n++) {
        /* Read in[n] before writing out[n]: the call is safe when in aliases an output. */
        float x = fx_sanitize(in_mono[n]);
        int active;
        float feed = fx_rev_feed(r, x, &tone_prev, dw, in_gain, &active);
        /* FDN: read every line, damp, mix, write back. */
        float out_l, out_r;
        float sum = fx_rev_read_lines(&b, sine, mod_depth, mask, w, y, &out_l, &out_r);
        sum *= hh;
        active |= fx_rev_write_lines(&b, y, sum, feed, mask, w);
        quiet = fx_rev_quiet(quiet, active);
        out_left[n] += wet1 * out_l + wet2 * out_r;
        out_right[n] += wet1 * out_r + wet2 * out_l;
        w++;
        dw++;
    }
    fx_rev_lines_store(r, &b);
    r->tone_prev = tone_prev;
    r->w = w;
    r->diff_w = dw;
    r->quiet = quiet;
}

#if FX_X86
/* fx_sum8 of the lanes, in its order. */
__attribute__((target("avx2"))) static inline float fx_sum8_avx2(__m256 v)
{
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)); /* v0+v4 .. v3+v7 */
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));                           /* (v0+v4)+(v2+v6), (v1+v5)+(v3+v7) */
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

/* fx_flush of every lane: |x| < FX_FLUSH_THRESHOLD becomes +0. */
__attribute__((target("avx2"))) static inline __m256 fx_flush_avx2(__m256 x)
{
    __m256 mag = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
    return _mm256_andnot_ps(_mm256_cmp_ps(mag, _mm256_set1_ps(FX_FLUSH_THRESHOLD), _CMP_LT_OQ), x);
}

/* The per-frame loop with the eight lines as the lanes of one vector: each lane does what
   fx_rev_read_lines and fx_rev_write_lines do for its line, operation for operation (no
   fused multiply-adds), and the sums go as fx_sum8; so the output is the scalar loop's,
   bit for bit. The lines are one allocation, line i at i * (mask + 1): reads are gathers
   from it, writes eight stores. */
__attribute__((target("avx2"))) static void fx_reverb_run_avx2(fx_reverb *r, const float *in_mono, float *out_left,
                                                               float *out_right, size_t frames)
{
    const uint32_t mask = r->line_mask;
    const float in_gain = r->in_gain, wet1 = r->wet1, wet2 = r->wet2;
    const float hh = 2.0f / (float)FX_REV_LINES; /* Householder factor */
    float tone_prev = r->tone_prev;
    uint32_t w = r->w, dw = r->diff_w, quiet = r->quiet;
    float *mem = r->memory;
    const size_t stride = (size_t)mask + 1u;

    float base[FX_REV_LINES];
    int32_t off[FX_REV_LINES];
    for (int i = 0; i < FX_REV_LINES; i++) {
        base[i] = r->line_delay[i] - 0.5f;
        off[i] = (int32_t)((size_t)i * stride);
    }
    __m256i ph = _mm256_loadu_si256((const __m256i *)r->mod_phase);
    const __m256i inc = _mm256_loadu_si256((const __m256i *)r->mod_inc);
    __m256 ap = _mm256_loadu_ps(r->ap_state), lps = _mm256_loadu_ps(r->lp_state);
    const __m256 b0 = _mm256_loadu_ps(r->lp_b0), a1 = _mm256_loadu_ps(r->lp_a1);
    const __m256 vbase = _mm256_loadu_ps(base), depth = _mm256_set1_ps(r->mod_depth);
    const __m256i voff = _mm256_loadu_si256((const __m256i *)off), vmask = _mm256_set1_epi32((int32_t)mask);
    const __m256i frac_bits = _mm256_set1_epi32((int32_t)((1u << FX_SINE_SHIFT) - 1u));
    const __m256 sine_frac = _mm256_set1_ps(FX_SINE_FRAC), one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    const __m256 sl = _mm256_loadu_ps(fx_rev_l_sign), sr = _mm256_loadu_ps(fx_rev_r_sign);
    const __m256 sin_ = _mm256_loadu_ps(fx_rev_in_sign), zero = _mm256_setzero_ps();
    const float *sine = r->sine;
    __m256i cidx = _mm256_set1_epi32(-1); /* the table entries ta, tb were read at (none yet) */
    __m256 ta = _mm256_setzero_ps(), tb = ta;
    float v_out[FX_REV_LINES];

    for (size_t n = 0; n < frames; n++) {
        float x = fx_sanitize(in_mono[n]); /* before out[n] is written: in may alias it */
        int active;
        float feed = fx_rev_feed(r, x, &tone_prev, dw, in_gain, &active);
        /* the modulation: fx_sine of each line's phase, times the depth (a line's table
           entry changes every 40 frames or more: the two gathers run when one has) */
        __m256i idx = _mm256_srli_epi32(ph, FX_SINE_SHIFT);
        if (_mm256_movemask_epi8(_mm256_cmpeq_epi32(idx, cidx)) != -1) {
            cidx = idx;
            ta = _mm256_i32gather_ps(sine, idx, 4);
            tb = _mm256_i32gather_ps(sine + 1, idx, 4);
        }
        __m256 fr = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_and_si256(ph, frac_bits)), sine_frac);
        __m256 mod = _mm256_mul_ps(_mm256_add_ps(ta, _mm256_mul_ps(fr, _mm256_sub_ps(tb, ta))), depth);
        ph = _mm256_add_epi32(ph, inc);
        /* the allpass-interpolated read and the damping low-pass */
        __m256 d = _mm256_add_ps(vbase, mod);
        __m256i di = _mm256_cvttps_epi32(d);
        __m256 frac = _mm256_add_ps(_mm256_sub_ps(d, _mm256_cvtepi32_ps(di)), half);
        __m256 eta = _mm256_div_ps(_mm256_sub_ps(one, frac), _mm256_add_ps(one, frac));
        __m256i at = _mm256_sub_epi32(_mm256_set1_epi32((int32_t)w), di);
        __m256i ia = _mm256_add_epi32(voff, _mm256_and_si256(at, vmask));
        __m256i ib = _mm256_add_epi32(voff, _mm256_and_si256(_mm256_sub_epi32(at, _mm256_set1_epi32(1)), vmask));
        __m256 la = _mm256_i32gather_ps(mem, ia, 4), lb = _mm256_i32gather_ps(mem, ib, 4);
        __m256 s = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(eta, la), lb), _mm256_mul_ps(eta, ap));
        s = fx_flush_avx2(s);
        ap = s;
        __m256 lp = fx_flush_avx2(_mm256_add_ps(_mm256_mul_ps(b0, s), _mm256_mul_ps(a1, lps)));
        lps = lp;
        float out_l = fx_sum8_avx2(_mm256_mul_ps(sl, lp)), out_r = fx_sum8_avx2(_mm256_mul_ps(sr, lp));
        float sum = fx_sum8_avx2(lp) * hh;
        /* Householder mix, the input, and the writes */
        __m256 v = _mm256_add_ps(_mm256_sub_ps(lp, _mm256_set1_ps(sum)), _mm256_mul_ps(sin_, _mm256_set1_ps(feed)));
        active |= _mm256_movemask_ps(_mm256_cmp_ps(v, zero, _CMP_NEQ_UQ)) != 0;
        _mm256_storeu_ps(v_out, v);
        float *slot = mem + (w & mask);
        for (int i = 0; i < FX_REV_LINES; i++)
            slot[(size_t)i * stride] = v_out[i];
        quiet = fx_rev_quiet(quiet, active);
        out_left[n] += wet1 * out_l + wet2 * out_r;
        out_right[n] += wet1 * out_r + wet2 * out_l;
        w++;
        dw++;
    }
    _mm256_storeu_si256((__m256i *)r->mod_phase, ph);
    _mm256_storeu_ps(r->ap_state, ap);
    _mm256_storeu_ps(r->lp_state, lps);
    r->tone_prev = tone_prev;
    r->w = w;
    r->diff_w = dw;
    r->quiet = quiet;
}
#endif

void fx_reverb_process(fx_reverb *r, const float *in_mono, float *out_left, float *out_right,
                       size_t frames)
{
    if (!r || !in_mono || !out_left || !out_right)
        return;
    if (fx_reverb_skip_idle(r, in_mono, frames))
        return;
#if FX_X86
    if (r->avx2) {
        fx_reverb_run_avx2(r, in_mono, out_left, out_right, frames);
        return;
    }
#endif
    fx_reverb_run_scalar(r, in_mono, out_left, out_right, frames);
}

void fx_reverb_set_avx2(fx_reverb *r, int on)
{
    if (r)
        r->avx2 = on && fx_avx2_default() ? 1 : 0;
}

int fx_reverb_avx2(const fx_reverb *r) { return r ? r->avx2 : 0; }

/* ----------------------------------------------------------------------------------------
 * Chorus
 * -------------------------------------------------------------------------------------- */

#define FX_CHORUS_MAX_VOICES 99
#define FX_CHORUS_MIN_DELAY_MS 2.0   /* delay at the bottom of the LFO swing */
#define FX_CHORUS_MAX_DEPTH_MS 256.0 /* widest swing accepted (FluidSynth's range) */
#define FX_CHORUS_MAX_SPEED_HZ 20.0

struct fx_chorus {
    double sample_rate;     /* Hz */
    int voices;             /* 0..FX_CHORUS_MAX_VOICES */
    int type;               /* 0 sine, 1 triangle */
    double level, speed_hz, depth_ms;

    float *buf;             /* mono delay line, power-of-two size */
    uint32_t mask;
    uint32_t w;             /* write index */
    uint32_t quiet;         /* frames since a non-zero input was written (saturating) */

    uint32_t phase;         /* master LFO phase (2^32 = one turn) */
    uint32_t inc;           /* phase increment per frame */
    uint32_t spacing;       /* phase offset between voices */
    float min_delay;        /* frames */
    float half_depth;       /* frames: delay = min + half_depth * (1 + lfo) */
    float gain_l[FX_CHORUS_MAX_VOICES], gain_r[FX_CHORUS_MAX_VOICES];
    int avx2;               /* 1: each tap's eight-sample read is one AVX2 vector */
    float sine[FX_SINE_SIZE + 1];
    float sinc[(FX_SINC_PHASES + 1) * FX_SINC_TAPS];
};

fx_chorus *fx_chorus_new(double sample_rate)
{
    if (!(sample_rate >= 1000.0 && sample_rate <= 768000.0))
        return NULL;
    fx_chorus *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->sample_rate = sample_rate;
    c->avx2 = fx_avx2_default();
    fx_fill_sine(c->sine);
    fx_fill_sinc(c->sinc);
    double max_frames = (FX_CHORUS_MIN_DELAY_MS + FX_CHORUS_MAX_DEPTH_MS) * 1e-3 * sample_rate;
    c->mask = fx_pow2_at_least((uint32_t)ceil(max_frames) + FX_SINC_TAPS + 2u) - 1u;
    c->buf = calloc((size_t)c->mask + 1u, sizeof(float));
    if (!c->buf) {
        free(c);
        return NULL;
    }
    fx_chorus_reset(c);
    fx_chorus_set(c, 3, 2.0, 0.3, 8.0, 0); /* FluidSynth's defaults */
    return c;
}

void fx_chorus_free(fx_chorus *c)
{
    if (!c)
        return;
    free(c->buf);
    free(c);
}

void fx_chorus_set(fx_chorus *c, int voices, double level, double speed_hz, double depth_ms,
                   int type)
{
    if (!c)
        return;
    if (voices < 0)
        voices = 0;
    if (voices > FX_CHORUS_MAX_VOICES)
        voices = FX_CHORUS_MAX_VOICES;
    c->voices = voices;
    c->type = (type == 1) ? 1 : 0;
    c->level = fx_clamp(level, 0.0, 10.0);
    c->speed_hz = fx_clamp(speed_hz, 0.0, FX_CHORUS_MAX_SPEED_HZ);
    c->depth_ms = fx_clamp(depth_ms, 0.0, FX_CHORUS_MAX_DEPTH_MS);

    c->inc = fx_phase_inc(c->speed_hz, c->sample_rate);
    c->spacing = voices > 0 ? (uint32_t)(0x100000000ull / (uint64_t)voices) : 0;
    c->min_delay = (float)(FX_CHORUS_MIN_DELAY_MS * 1e-3 * c->sample_rate);
    if (c->min_delay < (float)FX_SINC_TAPS) /* only at absurdly low rates */
        c->min_delay = (float)FX_SINC_TAPS;
    c->half_depth = (float)(0.5 * c->depth_ms * 1e-3 * c->sample_rate);

    double g = voices > 0 ? c->level / sqrt((double)voices) : 0.0;
    for (int v = 0; v < voices; v++) {
        /* Equal-power pan, voices spread evenly from left (v = 0) to right. */
        double pos = voices > 1 ? (double)v / (double)(voices - 1) : 0.5;
        double theta = pos * 0.5 * M_PI;
        c->gain_l[v] = (float)(g * cos(theta));
        c->gain_r[v] = (float)(g * sin(theta));
    }
}

void fx_chorus_reset(fx_chorus *c)
{
    if (!c)
        return;
    memset(c->buf, 0, ((size_t)c->mask + 1u) * sizeof(float));
    c->w = 0;
    c->phase = 0;
    c->quiet = UINT32_MAX; /* all zero: idle */
}

void fx_chorus_get_delay_range_ms(const fx_chorus *c, double *min_ms, double *max_ms)
{
    if (!c)
        return;
    double lo = 1e3 * (double)c->min_delay / c->sample_rate; /* 2 ms but at tiny rates */
    if (min_ms)
        *min_ms = lo;
    if (max_ms)
        *max_ms = lo + c->depth_ms;
}

#if FX_X86
/* fx_read_sinc with the eight samples as one vector (a plain load where they do not wrap
   around the ring) and the taps reversed into memory order: the same bits. */
__attribute__((target("avx2"))) static inline float fx_read_sinc_avx2(const float *buf, uint32_t mask, uint32_t w,
                                                                      float delay, const float *table)
{
    int32_t di = (int32_t)delay;
    int32_t p = (int32_t)((delay - (float)di) * (float)FX_SINC_PHASES + 0.5f);
    const __m256 h = _mm256_permutevar8x32_ps(_mm256_loadu_ps(table + p * FX_SINC_TAPS),
                                              _mm256_setr_epi32(7, 6, 5, 4, 3, 2, 1, 0));
    uint32_t i = w - (uint32_t)di + (uint32_t)(FX_SINC_TAPS / 2 - 1);
    uint32_t lo = (i - (uint32_t)(FX_SINC_TAPS - 1)) & mask; /* the oldest tap */
    __m256 x;
    if (lo + (uint32_t)(FX_SINC_TAPS - 1) <= mask) {
        x = _mm256_loadu_ps(buf + lo);
    } else {
        float t[FX_SINC_TAPS];
        for (int k = 0; k < FX_SINC_TAPS; k++)
            t[k] = buf[(lo + (uint32_t)k) & mask];
        x = _mm256_loadu_ps(t);
    }
    return fx_sum8_avx2(_mm256_mul_ps(h, x));
}
#endif

/* The chorus's per-frame loop; `avx2`: read the taps with fx_read_sinc_avx2 (a constant
   in each inlined copy). */
static inline void fx_chorus_run(fx_chorus *c, const float *in_mono, float *out_left, float *out_right,
                                 size_t frames, int avx2)
{
    const uint32_t mask = c->mask, inc = c->inc, spacing = c->spacing;
    const int voices = c->voices, triangle = c->type == 1;
    const float min_delay = c->min_delay, half_depth = c->half_depth;
    float *buf = c->buf;
    uint32_t w = c->w, phase = c->phase, quiet = c->quiet;

    for (size_t n = 0; n < frames; n++) {
        float x = fx_sanitize(in_mono[n]); /* read in[n] before writing out[n] */
        buf[w & mask] = x;
        quiet = x != 0.0f ? 0u : (quiet == UINT32_MAX ? quiet : quiet + 1u);
        float l = 0.0f, r = 0.0f;
        uint32_t ph = phase;
        for (int v = 0; v < voices; v++) {
            float lfo = triangle ? fx_triangle(ph) : fx_sine(c->sine, ph);
            float delay = min_delay + half_depth * (1.0f + lfo);
#if FX_X86
            float s = avx2 ? fx_read_sinc_avx2(buf, mask, w, delay, c->sinc) : fx_read_sinc(buf, mask, w, delay, c->sinc);
#else
            float s = fx_read_sinc(buf, mask, w, delay, c->sinc);
#endif
            l += c->gain_l[v] * s;
            r += c->gain_r[v] * s;
            ph += spacing;
        }
        out_left[n] += l;
        out_right[n] += r;
        phase += inc;
        w++;
    }
    c->w = w;
    c->phase = phase;
    c->quiet = quiet;
}

#if FX_X86
__attribute__((target("avx2"))) static void fx_chorus_run_avx2(fx_chorus *c, const float *in_mono, float *out_left,
                                                               float *out_right, size_t frames)
{
    fx_chorus_run(c, in_mono, out_left, out_right, frames, 1);
}
#endif

void fx_chorus_process(fx_chorus *c, const float *in_mono, float *out_left, float *out_right,
                       size_t frames)
{
    if (!c || !in_mono || !out_left || !out_right)
        return;
    if (c->quiet > c->mask && fx_all_zero(in_mono, frames)) {
        /* The line holds only zeros and the input is silent: just move on. */
        c->w += (uint32_t)frames;
        c->phase += c->inc * (uint32_t)frames;
        return;
    }
#if FX_X86
    if (c->avx2) {
        fx_chorus_run_avx2(c, in_mono, out_left, out_right, frames);
        return;
    }
#endif
    fx_chorus_run(c, in_mono, out_left, out_right, frames, 0);
}

void fx_chorus_set_avx2(fx_chorus *c, int on)
{
    if (c)
        c->avx2 = on && fx_avx2_default() ? 1 : 0;
}

int fx_chorus_avx2(const fx_chorus *c) { return c ? c->avx2 : 0; }
