/*
 * dlsynth voice engine: articulation (the DLS2 connection graph, as eng_conn_compile.c
 * compiled it), envelopes, LFOs, the resonant low-pass design and control-rate planning.
 * See voice.h for the time model. Thread: the render thread.
 *
 * Conventions (DLS Level 2, as the DLS1/DLS2 specifications and DDKSynth read them):
 * - Every source is normalised to 0..1 (7-bit MIDI values / 128, the 14-bit wheel / 16384);
 *   the pitch wheel, the two LFOs and the RPN 1/2 tunings are bipolar by nature.
 *   A source or control passes through its own transform (invert, bipolar, then a curve);
 *   the connection's output is scale * source * control.
 * - Key number to pitch acts around the region's unity note: a connection to pitch whose
 *   source is the key number contributes its value at the voice's key minus its value at
 *   the unity note (the key as a control, say LFO x key to pitch, only scales: its value is
 *   key / 128 as for any other destination), and the wave plays at its own rate (plus fine
 *   tune) at the unity note. With the default 12800 that is 100 cents per key as before; 6400 is
 *   50 cents per key around the unity note and 0 plays the unity pitch at every key, as
 *   FluidSynth's DLS loader (scale tuning), Wine's dmsynth and SpessaSynth read it. RPN 2
 *   (coarse tune, to the key number) moves the key the connection sees.
 * - Concave: -20/96 log10((1 - x)^2), convex its mirror, switch at 0.5 (bipolar: -1 below
 *   the middle, +1 from it: two levels, as FluidSynth and SpessaSynth map an SF2 switch).
 *   For unipolar curves of 7-bit MIDI values x spans 0..127/127 so the full value gives
 *   exactly 0 dB.
 * - EG1 runs on a dB-linear level (1 = 0 dB, 0 = -96 dB): attack linear in amplitude,
 *   decay and release at one full scale (96 dB) per decay / release time, sustain in
 *   permille of that scale. EG2 is linear in its output, same times (its attack convex in
 *   a region flagged ENG_RGN_MODENV_CONVEX_ATTACK: SF2's modulation envelope).
 * - Gain in centibels (positive louder; the note-on and controller part at most 0 in a region
 *   flagged ENG_RGN_ATTENUATION_FLOOR, SF2's modulated initialAttenuation), pitch in cents, pan in permille (-500 left,
 *   500 right, constant power), filter cutoff in absolute cents (6900 = 440 Hz),
 *   resonance in centibels (0 = Butterworth, peak height above the passband otherwise,
 *   clamped to DLS2's 0..22.5 dB, passband lowered by half the resonance), sends in permille.
 */
#include "voice.h"

#include <math.h>
#include <string.h>

#define PI_D 3.14159265358979323846

/* ---------------------------------------------------------------------------------------
 * Source values and transforms
 * ------------------------------------------------------------------------------------- */

static inline float curve_fn(unsigned curve, float x)
{
    float r;
    switch (curve) {
    case 1: /* concave */
        if (x >= 1.0f)
            return 1.0f;
        r = -(40.0f / 96.0f) * log10f(1.0f - x);
        break;
    case 2: /* convex */
        if (x <= 0.0f)
            return 0.0f;
        r = 1.0f + (40.0f / 96.0f) * log10f(x);
        break;
    case 3: /* switch */
        return x >= 0.5f ? 1.0f : 0.0f;
    default:
        return x;
    }
    return r < 0.0f ? 0.0f : (r > 1.0f ? 1.0f : r);
}

static inline float tr_eval(float u, unsigned tr)
{
    unsigned curve = tr & TR_CURVE_MASK;
    if (tr & TR_BIPOLAR) {
        if (tr & TR_INVERT)
            u = 1.0f - u;
        float b = 2.0f * u - 1.0f;
        if (curve == 0)
            return b;
        if (curve == 3)
            return b >= 0.0f ? 1.0f : -1.0f; /* switch: two levels, as FluidSynth and SpessaSynth */
        float m = curve_fn(curve, fabsf(b));
        return b < 0.0f ? -m : m;
    }
    if (curve != 0 && (tr & TR_MIDI7)) {
        u *= 128.0f / 127.0f;
        if (u > 1.0f)
            u = 1.0f;
    }
    if (tr & TR_INVERT)
        u = 1.0f - u;
    return curve == 0 ? u : curve_fn(curve, u);
}

typedef struct {
    float lfo, vib, eg1, eg2; /* bipolar LFOs -1..1, EGs 0..1 */
} dyn_src;

/* A source's normalised value; `key` is the key number the SK_KEY source reads. */
static inline float src_u(const eng_voice *v, const eng_channel *ch, int kind, int cc, const dyn_src *d, float key)
{
    switch (kind) {
    case SK_CONST: return 1.0f;
    case SK_VEL: return (float)v->vel * (1.0f / 128.0f);
    case SK_KEY: return key * (1.0f / 128.0f);
    case SK_PW: return (float)ch->bend * (1.0f / 16384.0f);
    case SK_CHP: return (float)ch->chp * (1.0f / 128.0f);
    case SK_POLY: return (float)ch->poly[v->key] * (1.0f / 128.0f);
    case SK_CC: return (float)ch->cc[cc & 127] * (1.0f / 128.0f);
    case SK_RPN0: return ch->bend_range * (1.0f / 12800.0f);
    case SK_RPN1: return 0.5f + ch->fine * (0.5f / 100.0f);
    case SK_RPN2: return 0.5f + ch->coarse * (0.5f / 64.0f);
    case SK_LFO: return 0.5f + 0.5f * d->lfo;
    case SK_VIB: return 0.5f + 0.5f * d->vib;
    case SK_EG1: return d->eg1;
    case SK_EG2: return d->eg2;
    default: return 0.0f;
    }
}

/* A connection's transformed source, and its transformed control (1 for none: x * 1 is
   x), with the key number source reading `key`. */
static inline float conn_src(const eng_cconn *c, const eng_voice *v, const eng_channel *ch, const dyn_src *d,
                             float key)
{
    return tr_eval(src_u(v, ch, c->src, c->src_cc, d, key), c->src_tr);
}

static inline float conn_ctl(const eng_cconn *c, const eng_voice *v, const eng_channel *ch, const dyn_src *d,
                             float key)
{
    return (c->ctl != SK_CONST || c->ctl_tr) ? tr_eval(src_u(v, ch, c->ctl, c->ctl_cc, d, key), c->ctl_tr) : 1.0f;
}

/* Transformed source times transformed control. */
static inline float conn_unit(const eng_cconn *c, const eng_voice *v, const eng_channel *ch, const dyn_src *d,
                              float key)
{
    return conn_src(c, v, ch, d, key) * conn_ctl(c, v, ch, d, key);
}

static inline float conn_value(const eng_cconn *c, const eng_voice *v, const eng_channel *ch, const dyn_src *d)
{
    float s = conn_unit(c, v, ch, d, v->key_eff);
    if (c->src_tr & TR_KEYREL)
        s -= conn_unit(c, v, ch, d, v->rgn->unity_note); /* key to pitch: around the unity note */
    return c->scale * s;
}

/* ---------------------------------------------------------------------------------------
 * Envelopes and LFOs
 * ------------------------------------------------------------------------------------- */

static const float EG1_DB = 96.0f;

/* dB-linear level (0..1) to amplitude: 10^((L - 1) * 96 / 20). */
static inline float eg1_amp_of_level(float L)
{
    if (L <= 0.0f)
        return 0.0f;
    if (L >= 1.0f)
        return 1.0f;
    return exp2f((L - 1.0f) * (EG1_DB / 20.0f * 3.321928094887362f));
}

static inline float eg1_level_of_amp(float a)
{
    if (a <= 0.0f)
        return 0.0f;
    float L = 1.0f + 20.0f * log10f(a) / EG1_DB;
    return L < 0.0f ? 0.0f : (L > 1.0f ? 1.0f : L);
}

/* Level at t frames since note-on. *attack_amp is set (>= 0) while in the attack, which is
   linear in the output (amplitude for EG1); *done when a release has run out. */
static float eg_eval(const eng_eg *g, double t, float *attack_out, int *done)
{
    *attack_out = -1.0f;
    *done = 0;
    if (g->released && t >= g->rel_t) {
        double L = (double)g->rel_level - (t - g->rel_t) * g->release_rate;
        if (L <= 0.0) {
            *done = 1;
            return 0.0f;
        }
        return (float)L;
    }
    t -= g->delay;
    if (t < 0.0) {
        *attack_out = 0.0f;
        return 0.0f;
    }
    if (t < g->attack) {
        *attack_out = (float)(t / g->attack);
        return *attack_out;
    }
    t -= g->attack;
    if (t < g->hold)
        return 1.0f;
    t -= g->hold;
    double L = 1.0 - t * g->decay_rate;
    if (L <= (double)g->sustain)
        L = g->sustain;
    return (float)L;
}

/* 1 when the envelope holds its sustain level from t frames since note-on on (not
   released, past its decay, as eg_eval reckons it): its level no longer changes. */
static int eg_sustaining(const eng_eg *g, double t)
{
    if (g->released)
        return 0;
    t -= g->delay;
    if (t < 0.0 || t < g->attack)
        return 0;
    t -= g->attack;
    if (t < g->hold)
        return 0;
    t -= g->hold;
    return 1.0 - t * g->decay_rate <= (double)g->sustain;
}

/* sin(2 pi p) for a phase in turns: folded to a quarter wave, then a degree-9 odd
   polynomial (error below 4e-6, far under any audible LFO depth). */
static inline double quarter_fold(double p)
{
    p -= floor(p);
    if (p >= 0.5)
        p -= 1.0;
    if (p > 0.25)
        p = 0.5 - p;
    else if (p < -0.25)
        p = -0.5 - p;
    return p; /* -0.25 .. 0.25, the same sign and slope as sin(2 pi p) */
}

static inline float sin_turns(double p)
{
    float x = (float)(quarter_fold(p) * (2.0 * PI_D));
    float x2 = x * x;
    return x * (1.0f + x2 * (-1.0f / 6.0f + x2 * (1.0f / 120.0f + x2 * (-1.0f / 5040.0f + x2 * (1.0f / 362880.0f)))));
}

/* An LFO's value t frames after note-on: 0 during its delay, then a sine (DLS) or, in a
   region flagged ENG_RGN_TRIANGLE_LFOS, SF2's triangle (SF2 2.04 8.1.2 #22/#24: the LFOs
   are triangular, as FluidSynth and SpessaSynth make them): both start at 0 and rise. */
static float lfo_eval(const eng_lfo *l, double t, int triangle)
{
    t -= l->delay;
    if (t <= 0.0)
        return 0.0f;
    return triangle ? (float)(4.0 * quarter_fold(t * l->freq)) : sin_turns(t * l->freq);
}

/* EG2's output during its attack, from the attack's linear progress 0..1: linear (DLS), or
   SF2's convex curve for a modulation envelope (SF2 2.04 8.1.2 #26: "the attack is convex";
   FluidSynth and SpessaSynth use the convex transform of the progress, 1 + 20/96 log10(x^2)),
   so a cutoff or pitch it drives rises fast at first, linearly in Hz. */
static inline float eg2_attack_out(const eng_voice *v, float att)
{
    return (v->rgn->flags & ENG_RGN_MODENV_CONVEX_ATTACK) ? curve_fn(2, att) : att;
}

/* The time-varying sources other than EG1 at t frames since note-on. */
static void dyn_eval(const eng_voice *v, int uses, double t, dyn_src *d)
{
    d->eg2 = 0.0f;
    d->lfo = 0.0f;
    d->vib = 0.0f;
    if (uses & USE_EG2) {
        float att;
        int d2;
        float L2 = eg_eval(&v->eg2, t, &att, &d2);
        d->eg2 = att >= 0.0f ? eg2_attack_out(v, att) : L2;
    }
    int tri = (v->rgn->flags & ENG_RGN_TRIANGLE_LFOS) != 0;
    if (uses & USE_LFO)
        d->lfo = lfo_eval(&v->lfo, t, tri);
    if (uses & USE_VIB)
        d->vib = lfo_eval(&v->vib, t, tri);
}

/* EG1 output amplitude and dB-linear level at t. */
static float eg1_eval(const eng_voice *v, double t, float *level, int *done)
{
    float att;
    float L = eg_eval(&v->eg1, t, &att, done);
    if (att >= 0.0f) {
        *level = att; /* as a source, the attack is its linear output */
        return att;
    }
    *level = L;
    if (L <= 0.0f && !v->eg1.released)
        *done = 1; /* decayed to a zero sustain */
    return eg1_amp_of_level(L);
}

/* ---------------------------------------------------------------------------------------
 * Filter design
 * ------------------------------------------------------------------------------------- */

/* Resonance (cB) as the biquad's 1/(2Q) and its passband gain.
   - Range: DLS2 specifies the filter resonance as 0..22.5 dB, so it is clamped to that
     (SF2 synths such as FluidSynth and SpessaSynth accept up to 96 dB).
   - Height: the resonance is the height of the peak above the passband (the DC gain).
     The low-pass is the bilinear transform of 1 / (s^2 + s/Q + 1), which keeps magnitudes,
     so its peak is the analog one, Q^2 / sqrt(Q^2 - 1/4) for Q > 1/sqrt(2). Solving that for
     a peak P = 10^(dB/20) gives Q^2 = P^2 (1 + sqrt(1 - 1/P^2)) / 2: 0 dB is Butterworth
     (no peak, -3 dB at the cutoff) and the peak is exactly the resonance above it.
   - Compensation: the passband is lowered by half the resonance (gain 1/sqrt(P)), as
     FluidSynth (1/sqrt(Q)) and SpessaSynth do after SF2 2.01: the peak then stands half the
     resonance above the unfiltered level and the loudness stays about constant with Q. */
static void q_design(float q_cb, float *hiq, float *gain)
{
    double q = q_cb;
    if (!(q > 0.0))
        q = 0.0;
    if (q > 225.0)
        q = 225.0;
    double p2 = pow(10.0, q / 100.0); /* P^2 with P = 10^(q_cb / 200) */
    double qq = 0.5 * p2 * (1.0 + sqrt(1.0 - 1.0 / p2));
    *hiq = (float)(0.5 / sqrt(qq));
    *gain = (float)pow(10.0, -q / 400.0);
}

static eng_coef lowpass(double rate, float fc_cents, float hiq, float gain)
{
    eng_coef c;
    float hz = 440.0f * exp2f((fc_cents - 6900.0f) * (1.0f / 1200.0f));
    float top = (float)(0.45 * rate);
    if (!(hz > 5.0f))
        hz = 5.0f;
    if (hz > top)
        hz = top;
    float w = (float)(2.0 * PI_D / rate) * hz;
    float sw = sinf(w), cw = cosf(w);
    float alpha = sw * hiq;
    float inv = 1.0f / (1.0f + alpha);
    c.b0 = (1.0f - cw) * 0.5f * inv * gain;
    c.a1 = -2.0f * cw * inv;
    c.a2 = (1.0f - alpha) * inv;
    return c;
}

/* ---------------------------------------------------------------------------------------
 * Note-on
 * ------------------------------------------------------------------------------------- */

static double tc_frames(float tc, double rate)
{
    if (!(tc > -32000.0f))
        return 0.0;
    double s = exp2((double)tc / 1200.0);
    if (s > 100.0)
        s = 100.0;
    return s * rate;
}

static double abs_cents_hz(float c)
{
    double hz = 440.0 * exp2(((double)c - 6900.0) / 1200.0);
    if (!(hz >= 0.0))
        hz = 0.0;
    if (hz > 100.0)
        hz = 100.0;
    return hz;
}

/* The dynamic connections that can contribute while the channel stays as it is
   (eng_voice.live): a control that does not vary in time is transformed once here, and a
   connection whose control reads 0 is left out (its value, a finite source times 0, adds
   exactly 0 to a sum: the same bits). */
static void eval_live(eng_voice *v, const eng_channel *ch)
{
    const eng_connlist *cl = v->rgn->cl;
    const dyn_src d0 = {0.0f, 0.0f, 0.0f, 0.0f};
    int32_t n = 0, uses = 0;
    for (int32_t i = cl->m.first_dynamic; i < cl->m.n_conn; i++) {
        const eng_cconn *c = &cl->conn[i];
        float ctl = NAN;
        if (!eng_uses_bit(c->ctl) && !(c->src_tr & TR_KEYREL)) {
            ctl = conn_ctl(c, v, ch, &d0, v->key_eff);
            if (ctl == 0.0f)
                continue;
        }
        if (n == ENG_LIVE_MAX) {
            v->n_live = -1;
            v->live_uses = cl->m.uses;
            return;
        }
        v->live[n] = (uint16_t)i;
        v->live_ctl[n] = ctl;
        uses |= eng_uses_bit(c->src) | eng_uses_bit(c->ctl);
        n++;
    }
    v->n_live = n;
    v->live_uses = uses;
}

/* A live connection's value: conn_value, with the control's transformed value given (ctl)
   unless it varies in time (NAN). */
static inline float live_value(const eng_cconn *c, const eng_voice *v, const eng_channel *ch, const dyn_src *d,
                               float ctl)
{
    if (isnan(ctl))
        return conn_value(c, v, ch, d);
    return c->scale * (conn_src(c, v, ch, d, v->key_eff) * ctl);
}

/* The time-varying connections' sums into sum (only those of destination dst, or all with
   dst < 0), with the sources d. */
static inline void add_dynamic(const eng_voice *v, const eng_channel *ch, const dyn_src *d, int dst, float *sum)
{
    const eng_connlist *cl = v->rgn->cl;
    if (v->n_live >= 0) {
        for (int32_t j = 0; j < v->n_live; j++) {
            const eng_cconn *c = &cl->conn[v->live[j]];
            if (dst < 0 || c->dst == dst)
                sum[dst < 0 ? c->dst : 0] += live_value(c, v, ch, d, v->live_ctl[j]);
        }
        return;
    }
    for (int32_t i = cl->m.first_dynamic; i < cl->m.n_conn; i++) {
        const eng_cconn *c = &cl->conn[i];
        if (dst < 0 || c->dst == dst)
            sum[dst < 0 ? c->dst : 0] += conn_value(c, v, ch, d);
    }
}

static void eval_channel_sums(eng_voice *v, const eng_channel *ch)
{
    const eng_region *r = v->rgn;
    dyn_src d0 = {0.0f, 0.0f, 0.0f, 0.0f};
    /* key number first: KEYNUM connections see the played key */
    float keyshift = 0.0f;
    float key_played = (float)v->key;
    v->key_eff = key_played;
    for (int32_t i = r->cl->m.first_static; i < r->cl->m.first_dynamic; i++) {
        const eng_cconn *c = &r->cl->conn[i];
        if (c->dst == D_KEYNUM)
            keyshift += conn_value(c, v, ch, &d0);
    }
    v->key_eff = key_played + keyshift * 0.01f;
    for (int k = 0; k < D_NCONT; k++)
        v->chan[k] = 0.0f;
    for (int32_t i = r->cl->m.first_channel; i < r->cl->m.first_dynamic; i++) {
        const eng_cconn *c = &r->cl->conn[i];
        if (c->dst != D_KEYNUM)
            v->chan[c->dst] += conn_value(c, v, ch, &d0);
    }
    eval_live(v, ch);
    v->chan_version = ch->version;
}

static void setup_eg(eng_eg *g, const float *p, int base, int has_sustain, double rate)
{
    /* p is indexed by D_*, base is D_EG1_DELAY or D_EG2_DELAY (same layout). */
    g->delay = tc_frames(p[base + 0], rate);
    g->attack = tc_frames(p[base + 1], rate);
    g->hold = tc_frames(p[base + 2], rate);
    double decay = tc_frames(p[base + 3], rate);
    float s = has_sustain ? p[base + 4] * 0.001f : 1.0f;
    g->sustain = s < 0.0f ? 0.0f : (s > 1.0f ? 1.0f : s);
    double release = tc_frames(p[base + 5], rate);
    g->decay_rate = decay > 0.0 ? 1.0 / decay : 1e9;
    g->release_rate = release > 0.0 ? 1.0 / release : 1e9;
    g->released = 0;
    g->rel_t = 0.0;
    g->rel_level = 0.0f;
}

/* The static connections' sums (note-on values that stay put while the voice plays). */
static inline void eval_static_sums(eng_voice *v, const eng_channel *ch)
{
    const eng_region *r = v->rgn;
    dyn_src d0 = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int k = 0; k < D_NCONT; k++)
        v->stat[k] = 0.0f;
    for (int32_t i = r->cl->m.first_static; i < r->cl->m.first_channel; i++) {
        const eng_cconn *c = &r->cl->conn[i];
        if (c->dst != D_KEYNUM)
            v->stat[c->dst] += conn_value(c, v, ch, &d0);
    }
    v->stat[D_FC] += r->cl->m.fc_base;
}

/* The note-on parameters into p (indexed by D_*): the sums of the note-on connections,
 * defaults for destinations no connection names. */
static inline void eval_note_on_params(const eng_voice *v, const eng_channel *ch, float p[D_COUNT])
{
    const eng_region *r = v->rgn;
    dyn_src d0 = {0.0f, 0.0f, 0.0f, 0.0f};
    int has[D_COUNT];
    for (int k = 0; k < D_COUNT; k++) {
        p[k] = 0.0f;
        has[k] = 0;
    }
    for (int32_t i = 0; i < r->cl->m.first_static; i++) {
        const eng_cconn *c = &r->cl->conn[i];
        p[c->dst] += conn_value(c, v, ch, &d0);
        has[c->dst] = 1;
    }
    static const float defaults[D_COUNT] = {
        [D_LFO_FREQ] = -851.3179f, [D_LFO_DELAY] = -7972.6274f,
        [D_VIB_FREQ] = -851.3179f, [D_VIB_DELAY] = -7972.6274f,
        [D_EG1_DELAY] = -32768.0f, [D_EG1_ATTACK] = -32768.0f, [D_EG1_HOLD] = -32768.0f,
        [D_EG1_DECAY] = -32768.0f, [D_EG1_SUSTAIN] = 1000.0f, [D_EG1_RELEASE] = -32768.0f,
        [D_EG1_SHUTDOWN] = -7271.0f,
        [D_EG2_DELAY] = -32768.0f, [D_EG2_ATTACK] = -32768.0f, [D_EG2_HOLD] = -32768.0f,
        [D_EG2_DECAY] = -32768.0f, [D_EG2_SUSTAIN] = 1000.0f, [D_EG2_RELEASE] = -32768.0f,
    };
    for (int k = D_NCONT; k < D_COUNT; k++)
        if (!has[k])
            p[k] = defaults[k];
}

/* Envelopes, shutdown rate and LFOs from the note-on parameters p. */
static inline void setup_modulators(eng_voice *v, const float *p, double rate)
{
    setup_eg(&v->eg1, p, D_EG1_DELAY, 1, rate);
    setup_eg(&v->eg2, p, D_EG2_DELAY, 1, rate);
    double shut = tc_frames(p[D_EG1_SHUTDOWN], rate);
    v->shutdown_rate = shut > 0.0 ? 1.0 / shut : 1e9;
    v->lfo.freq = abs_cents_hz(p[D_LFO_FREQ]) / rate;
    v->lfo.delay = tc_frames(p[D_LFO_DELAY], rate);
    v->vib.freq = abs_cents_hz(p[D_VIB_FREQ]) / rate;
    v->vib.delay = tc_frames(p[D_VIB_DELAY], rate);
}

/* Playback: the wave's first segment (loop, pre-loop or to the end) and the phase at its start. */
static inline void start_playback(eng_voice *v)
{
    const eng_region *r = v->rgn;
    v->nch = r->nch;
    v->filter = r->cl->m.filter;
    v->ratio = r->rate_ratio;
    v->ph = (uint64_t)ENG_GUARD << ENG_FRAC;
    v->wrapped = 0;
    if (r->has_loop && r->loop_start == 0) {
        v->state = PS_LOOP;
        for (int c = 0; c < r->nch; c++)
            v->buf[c] = r->lfirst[c];
        v->lim = (uint64_t)(r->loop_end - r->loop_start + ENG_GUARD) << ENG_FRAC;
    } else if (r->has_loop) {
        v->state = PS_PRELOOP;
        for (int c = 0; c < r->nch; c++)
            v->buf[c] = r->main[c];
        v->lim = (uint64_t)(r->loop_start + ENG_GUARD) << ENG_FRAC;
    } else {
        v->state = PS_TOEND;
        for (int c = 0; c < r->nch; c++)
            v->buf[c] = r->main[c];
        v->lim = (uint64_t)(r->frames + ENG_GUARD) << ENG_FRAC;
    }
    if (r->nch < 2)
        v->buf[1] = v->buf[0];
}

/* The per-note state a new note starts from: filter memory, pedals, the last planned values. */
static inline void reset_note_state(eng_voice *v, const eng_channel *ch)
{
    memset(v->fx, 0, sizeof v->fx);
    v->inc = (uint64_t)1 << ENG_FRAC;
    v->coef_ramp = 0;
    v->end_at = 0;
    v->fading = 0;
    v->sustained = v->sostenuto = v->sost_off = 0;
    v->note_on = 1;
    v->last_pitch = NAN;
    v->last_gain_cb = NAN;
    v->last_pan = NAN;
    v->last_fc = NAN;
    v->last_q = NAN;
    v->soft_cb = ch->soft ? -30.0f : 0.0f; /* soft pedal: -3 dB on notes it catches */
}

void eng_voice_start(eng_engine *e, eng_voice *v, uint64_t now)
{
    const eng_channel *ch = &e->chan[v->channel];
    double rate = (double)e->rate;

    eval_channel_sums(v, ch);
    eval_static_sums(v, ch);
    float p[D_COUNT];
    eval_note_on_params(v, ch, p);
    setup_modulators(v, p, rate);
    start_playback(v);
    reset_note_state(v, ch);

    /* initial values at the note-on frame, then the first plan */
    v->r0 = now;
    v->ramp_end = now;
    for (int k = 0; k < 4; k++) {
        v->g0[k] = 0.0f;
        v->dg[k] = 0.0f;
    }
    eng_voice_plan(e, v, now, now); /* sets g0 and the coefficients at `now` */
    eng_voice_plan(e, v, now, eng_plan_end(now));
}

/* ---------------------------------------------------------------------------------------
 * Planning
 * ------------------------------------------------------------------------------------- */

uint64_t eng_plan_end(uint64_t now)
{
    uint64_t next = (now / ENG_CTRL + 1) * ENG_CTRL;
    if (next - now < ENG_MIN_RAMP)
        next += ENG_CTRL;
    return next;
}

static inline float ramp_value(const eng_voice *v, int k, uint64_t at)
{
    return v->g0[k] + (float)(int64_t)(at - v->r0) * v->dg[k];
}

static inline eng_coef coef_at(const eng_voice *v, uint64_t at)
{
    eng_coef c = v->c0;
    if (v->coef_ramp) {
        float k = (float)(int64_t)(at - v->r0);
        c.b0 += k * v->dc.b0;
        c.a1 += k * v->dc.a1;
        c.a2 += k * v->dc.a2;
    }
    return c;
}

/* A plan's first step: the sources at `end` (t frames after note-on) and the connection sums
   of every continuous destination into sum; returns EG1's output amplitude (*done: the
   voice has fallen silent). */
static float plan_sums(const eng_voice *v, const eng_channel *ch, double t, int *done, float *sum)
{
    const eng_region *r = v->rgn;
    dyn_src d;
    float eg1_level;
    float amp = eg1_eval(v, t, &eg1_level, done);
    d.eg1 = eg1_level;
    dyn_eval(v, v->live_uses, t, &d);
    for (int k = 0; k < D_NCONT; k++)
        sum[k] = v->stat[k] + v->chan[k];
    if ((r->flags & ENG_RGN_ATTENUATION_FLOOR) && sum[D_GAIN] > 0.0f)
        sum[D_GAIN] = 0.0f; /* SF2: initialAttenuation plus its modulators, clamped at 0 cB */
    add_dynamic(v, ch, &d, -1, sum);
    return amp;
}

/* The time-varying part of the pitch (cents) at `now`, evaluated directly: for a plan
   made off the tick grid (at an event), where the last plan's end value does not apply. */
static float dyn_pitch_at(const eng_voice *v, const eng_channel *ch, uint64_t now)
{
    double ts = (double)(int64_t)(now - v->start);
    dyn_src ds;
    float ls;
    int dn;
    eg1_eval(v, ts, &ls, &dn);
    ds.eg1 = ls;
    dyn_eval(v, v->live_uses, ts, &ds);
    float dyn_start = 0.0f;
    add_dynamic(v, ch, &ds, D_PITCH, &dyn_start);
    return dyn_start;
}

/* Pitch -> phase increment, constant for the plan: a time-varying pitch takes the mean of
   its values at the plan's start and end (about its middle), so the steps straddle the
   curve instead of leading it. */
static int plan_pitch(eng_voice *v, const eng_channel *ch, const float *sum, uint64_t now, uint64_t end)
{
    const eng_region *r = v->rgn;
    float pitch_sum = sum[D_PITCH];
    int held = 1; /* the time-varying part the same at both ends */
    if ((r->cl->m.uses & USE_DYN_PITCH) && end != now) {
        float dyn_end = pitch_sum - (v->stat[D_PITCH] + v->chan[D_PITCH]);
        float dyn_start = v->dyn_pitch;
        if (v->dyn_pitch_t != now)
            dyn_start = dyn_pitch_at(v, ch, now);
        v->dyn_pitch = dyn_end;
        v->dyn_pitch_t = end;
        held = dyn_start == dyn_end;
        pitch_sum = v->stat[D_PITCH] + v->chan[D_PITCH] + 0.5f * (dyn_start + dyn_end);
    } else if (end == now) {
        v->dyn_pitch = pitch_sum - (v->stat[D_PITCH] + v->chan[D_PITCH]);
        v->dyn_pitch_t = now;
    }
    /* the unity note is in the key-to-pitch connections (TR_KEYREL) */
    float pitch = pitch_sum + r->fine_tune;
    if (pitch != v->last_pitch) {
        v->last_pitch = pitch;
        double ratio = v->ratio * (double)exp2f(pitch * (1.0f / 1200.0f));
        if (!(ratio > 0.0))
            ratio = 0.0;
        if (ratio > ENG_MAX_RATIO)
            ratio = ENG_MAX_RATIO;
        uint64_t inc = (uint64_t)(ratio * 4294967296.0 + 0.5);
        v->inc = inc ? inc : 1;
        held = 0;
    }
    return held;
}

/* The output amplitude at `end`: EG1's (amp) times the gain of the sums, the region's
   attenuation and the soft pedal, times a cut voice's fade; 0 once the voice is done
   (*done also set when the fade has run out). */
static float plan_amp(eng_voice *v, const float *sum, float amp, uint64_t end, int *done)
{
    float gain_cb = sum[D_GAIN] - v->rgn->attenuation + v->soft_cb;
    if (gain_cb != v->last_gain_cb) {
        v->last_gain_cb = gain_cb;
        float g = gain_cb > 200.0f ? 200.0f : gain_cb;
        v->last_amp_static = g < -1440.0f ? 0.0f : exp2f(g * (3.321928094887362f / 200.0f));
    }
    amp *= v->last_amp_static;
    if (v->fading) {
        double f = 1.0 - (double)(int64_t)(end - v->fade_start) / v->fade_len;
        if (f <= 0.0) {
            f = 0.0;
            *done = 1;
        }
        amp *= (float)f;
    }
    if (*done)
        amp = 0.0f;
    return amp;
}

/* The pan gains (pan_l, pan_r) for pan in permille, when it changed. */
static void plan_pan(eng_voice *v, float pan)
{
    if (pan == v->last_pan)
        return;
    v->last_pan = pan;
    float p = pan;
    if (v->rgn->out_mask == 1)
        p -= 500.0f;
    else if (v->rgn->out_mask == 2)
        p += 500.0f;
    if (p < -500.0f)
        p = -500.0f;
    if (p > 500.0f)
        p = 500.0f;
    if (v->nch == 2) {
        /* balance: each side keeps its own channel, the far one fades */
        v->pan_l = p >= 500.0f ? 0.0f : (p > 0.0f ? (float)cos(PI_D * p * 0.001) : 1.0f);
        v->pan_r = p <= -500.0f ? 0.0f : (p < 0.0f ? (float)cos(-PI_D * p * 0.001) : 1.0f);
    } else if (p <= -500.0f || p >= 500.0f) {
        v->pan_l = p < 0.0f ? 1.0f : 0.0f; /* exactly silent on the far side */
        v->pan_r = p < 0.0f ? 0.0f : 1.0f;
    } else {
        double x = ((double)p * 0.001 + 0.5) * (PI_D * 0.5);
        v->pan_l = (float)cos(x);
        v->pan_r = (float)sin(x);
    }
}

/* The filter's coefficients for the sums' cutoff and resonance into *ct; 1 when they
   changed (a voice with no filter: never). */
static int plan_filter(const eng_engine *e, eng_voice *v, const float *sum, eng_coef *ct)
{
    if (!v->filter)
        return 0;
    float fc = sum[D_FC], q = sum[D_Q];
    if (fc != v->last_fc || q != v->last_q) {
        if (q != v->last_q)
            q_design(q, &v->hiq, &v->qgain);
        v->last_fc = fc;
        v->last_q = q;
        *ct = lowpass((double)e->rate, fc, v->hiq, v->qgain);
        return 1;
    }
    return 0;
}

/* Ramp the gains (left, right, reverb, chorus) and, when they move, the filter's
   coefficients from their values at `now` to target and ct at `end`; with end == now they
   are set directly (the note-on frame). A done voice ends at `end`. */
static int plan_ramp(eng_voice *v, const float *target, eng_coef ct, int coef_changed, int done, uint64_t now,
                     uint64_t end)
{
    if (end == now) {
        for (int k = 0; k < 4; k++) {
            v->g0[k] = target[k];
            v->dg[k] = 0.0f;
        }
        v->c0 = ct;
        v->coef_ramp = 0;
        v->r0 = now;
        v->ramp_end = now;
        if (done)
            v->end_at = now;
        return 0;
    }
    float span = (float)(int64_t)(end - now);
    float inv = 1.0f / span;
    eng_coef cur = coef_at(v, now);
    int flat = !coef_changed;
    for (int k = 0; k < 4; k++) {
        float g = ramp_value(v, k, now);
        v->g0[k] = g;
        v->dg[k] = (target[k] - g) * inv;
        flat &= g == target[k];
    }
    if (coef_changed || v->coef_ramp) {
        if (!coef_changed)
            ct = v->coef_ramp ? coef_at(v, v->ramp_end) : v->c0;
        v->c0 = cur;
        v->dc.b0 = (ct.b0 - cur.b0) * inv;
        v->dc.a1 = (ct.a1 - cur.a1) * inv;
        v->dc.a2 = (ct.a2 - cur.a2) * inv;
        v->coef_ramp = (v->dc.b0 != 0.0f || v->dc.a1 != 0.0f || v->dc.a2 != 0.0f);
        if (!v->coef_ramp)
            v->c0 = ct;
    }
    v->r0 = now;
    v->ramp_end = end;
    v->end_at = done ? end : 0;
    return flat && !v->coef_ramp;
}

/* Evaluate the voice at absolute frame `end` and ramp to it from `now`. With end == now the
   values are set directly (the note-on frame). */
void eng_voice_plan(eng_engine *e, eng_voice *v, uint64_t now, uint64_t end)
{
    const eng_channel *ch = &e->chan[v->channel];
    if (v->chan_version != ch->version)
        eval_channel_sums(v, ch);

    double t = (double)(int64_t)(end - v->start);
    int done = 0;
    float sum[D_NCONT];
    float amp = plan_sums(v, ch, t, &done, sum);
    int held = plan_pitch(v, ch, sum, now, end);
    amp = plan_amp(v, sum, amp, end, &done);
    plan_pan(v, sum[D_PAN]);
    float rev = sum[D_REVERB] * 0.001f;
    float cho = sum[D_CHORUS] * 0.001f;
    rev = rev < 0.0f ? 0.0f : (rev > 1.0f ? 1.0f : rev);
    cho = cho < 0.0f ? 0.0f : (cho > 1.0f ? 1.0f : cho);
    /* A two-channel voice sends both channels at the full send (eng_voice_mix sums them):
       the two mono voices of an SF2 stereo pair, or of a DLS2 multichannel pair played
       apart, each send their own channel at the full level in FluidSynth and SpessaSynth. */
    float target[4] = {amp * v->pan_l, amp * v->pan_r, amp * rev, amp * cho};
    v->level = target[0] + target[1];

    eng_coef ct = v->c0;
    int coef_changed = plan_filter(e, v, sum, &ct);
    held &= plan_ramp(v, target, ct, coef_changed, done, now, end);
    /* Steady: this plan changed nothing (the pitch, the gains at their targets, the
       coefficients), and every source it read holds from `end` on (EG1, and EG2 if it is
       used, in their sustain; no LFO; no fade), so the next tick's plan would compute the
       same values again: eng_voice_tick_plan skips it while the channel stays as it is. */
    v->steady = held && !done && !v->fading && !(v->live_uses & (USE_LFO | USE_VIB)) &&
                v->eg1.sustain > 0.0f && eg_sustaining(&v->eg1, t) &&
                (!(v->live_uses & USE_EG2) || eg_sustaining(&v->eg2, t));
}

/* A control tick's plan (the one ending at tick + ENG_CTRL): skipped for a steady voice
   whose channel has not changed since, as it would set the same values (only the ramp's
   span moves on); returns 1 when skipped. Any other change to the voice (an event, a
   release, a cut) goes through eng_voice_plan, which decides anew. */
int eng_voice_tick_plan(eng_engine *e, eng_voice *v, uint64_t tick)
{
    uint64_t end = tick + ENG_CTRL;
    if (v->steady && v->chan_version == e->chan[v->channel].version) {
        v->r0 = tick;
        v->ramp_end = end;
        if (v->rgn->cl->m.uses & USE_DYN_PITCH)
            v->dyn_pitch_t = end;
        return 1;
    }
    eng_voice_plan(e, v, tick, end);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Release and cut
 * ------------------------------------------------------------------------------------- */

static void release_egs(eng_voice *v, uint64_t now, double rate1)
{
    double t = (double)(int64_t)(now - v->start);
    float att;
    int done;
    if (!v->eg1.released) {
        float L = eg_eval(&v->eg1, t, &att, &done);
        if (att >= 0.0f)
            L = eg1_level_of_amp(att);
        v->eg1.released = 1;
        v->eg1.rel_t = t;
        v->eg1.rel_level = L;
    } else {
        /* already releasing: restart from the current level */
        float L = eg_eval(&v->eg1, t, &att, &done);
        v->eg1.rel_t = t;
        v->eg1.rel_level = L;
    }
    if (rate1 > 0.0)
        v->eg1.release_rate = rate1;
    if (!v->eg2.released) {
        float L2 = eg_eval(&v->eg2, t, &att, &done);
        if (att >= 0.0f)
            L2 = eg2_attack_out(v, att); /* released in the attack: from the level reached */
        v->eg2.released = 1;
        v->eg2.rel_t = t;
        v->eg2.rel_level = L2;
    }
}

static void leave_release_loop(eng_voice *v)
{
    const eng_region *r = v->rgn;
    if (r->loop_type != ENG_LOOP_RELEASE || !r->has_loop)
        return;
    if (v->state == PS_LOOP) {
        v->ph += (uint64_t)r->loop_start << ENG_FRAC;
        v->state = PS_TOEND;
    } else if (v->state == PS_PRELOOP) {
        v->state = PS_TOEND;
    } else {
        return;
    }
    for (int c = 0; c < r->nch; c++)
        v->buf[c] = r->main[c];
    if (r->nch < 2)
        v->buf[1] = v->buf[0];
    v->lim = (uint64_t)(r->frames + ENG_GUARD) << ENG_FRAC;
}

void eng_voice_release(eng_engine *e, eng_voice *v, uint64_t now)
{
    if (!v->note_on)
        return;
    v->note_on = 0;
    v->sustained = 0;
    release_egs(v, now, 0.0);
    leave_release_loop(v);
    eng_voice_plan(e, v, now, eng_plan_end(now));
}

/* Cut a voice: fast = the stolen-voice fade (1/70 s, linear), else the EG1 shutdown time. */
void eng_voice_cut(eng_engine *e, eng_voice *v, uint64_t now, int fast)
{
    if (fast) {
        if (!v->fading) {
            v->fading = 1;
            v->fade_start = now;
            v->fade_len = (double)e->rate / 70.0;
        }
    } else {
        release_egs(v, now, v->shutdown_rate);
        leave_release_loop(v);
    }
    v->note_on = 0;
    v->sustained = 0;
    v->sostenuto = 0;
    v->sost_off = 0;
    eng_voice_plan(e, v, now, eng_plan_end(now));
}
