/*
 * dlsynth voice engine: the connection compile. A region's merged DLS connection blocks
 * (eng_conn, from synth/download.py) become the engine's compiled list (eng_cconn): sources
 * and destinations mapped to their kinds, transforms to bits, the list sorted into note-on
 * destinations, then static, channel and dynamic connections, and the filter rule decided.
 * The conventions the compiled connections are evaluated with are at the top of voice.c.
 *
 * Thread: the producer, at download time (eng_instrument_create); nothing here runs while
 * a note plays.
 */
#include "voice.h"

#include <math.h>

static int source_kind(unsigned src, uint8_t *cc)
{
    *cc = 0;
    switch (src) {
    case 0x0000: return SK_CONST;
    case 0x0001: return SK_LFO;
    case 0x0002: return SK_VEL;
    case 0x0003: return SK_KEY;
    case 0x0004: return SK_EG1;
    case 0x0005: return SK_EG2;
    case 0x0006: return SK_PW;
    case 0x0007: return SK_POLY;
    case 0x0008: return SK_CHP;
    case 0x0009: return SK_VIB;
    case 0x000A: return SK_CHP; /* monophonic pressure: the channel's pressure */
    case 0x0100: return SK_RPN0;
    case 0x0101: return SK_RPN1;
    case 0x0102: return SK_RPN2;
    default: break;
    }
    if (src >= 0x80 && src <= 0xFF) {
        *cc = (uint8_t)(src - 0x80);
        return SK_CC;
    }
    return -1;
}

static int dest_index(unsigned dst)
{
    switch (dst) {
    case 0x0001: return D_GAIN;
    case 0x0003: return D_PITCH;
    case 0x0004: return D_PAN;
    case 0x0005: return D_KEYNUM;
    case 0x0080: return D_CHORUS;
    case 0x0081: return D_REVERB;
    case 0x0104: return D_LFO_FREQ;
    case 0x0105: return D_LFO_DELAY;
    case 0x0114: return D_VIB_FREQ;
    case 0x0115: return D_VIB_DELAY;
    case 0x0206: return D_EG1_ATTACK;
    case 0x0207: return D_EG1_DECAY;
    case 0x0209: return D_EG1_RELEASE;
    case 0x020A: return D_EG1_SUSTAIN;
    case 0x020B: return D_EG1_DELAY;
    case 0x020C: return D_EG1_HOLD;
    case 0x020D: return D_EG1_SHUTDOWN;
    case 0x030A: return D_EG2_ATTACK;
    case 0x030B: return D_EG2_DECAY;
    case 0x030D: return D_EG2_RELEASE;
    case 0x030E: return D_EG2_SUSTAIN;
    case 0x030F: return D_EG2_DELAY;
    case 0x0310: return D_EG2_HOLD;
    case 0x0500: return D_FC;
    case 0x0501: return D_Q;
    default: return -1; /* reserved and speaker destinations are ignored */
    }
}

/* A connection the compile keeps: known destination, source and control, a finite non-zero
   scale (a zero adds nothing to a continuous destination). */
static int conn_kept(const eng_conn *c)
{
    uint8_t cc;
    return dest_index(c->destination) >= 0 && source_kind(c->source, &cc) >= 0 &&
           source_kind(c->control, &cc) >= 0 && isfinite(c->scale) && c->scale != 0.0f;
}

static int kind_class(int k)
{
    switch (k) {
    case SK_CONST:
    case SK_VEL:
        return CC_STATIC;
    case SK_LFO:
    case SK_VIB:
    case SK_EG1:
    case SK_EG2:
        return CC_DYNAMIC;
    default:
        return CC_CHANNEL;
    }
}

static uint8_t kind_bits(int k)
{
    switch (k) {
    case SK_PW:
    case SK_RPN1:
    case SK_RPN2:
    case SK_LFO:
    case SK_VIB:
        return TR_BIPOLAR;
    case SK_VEL:
    case SK_KEY:
    case SK_CHP:
    case SK_POLY:
    case SK_CC:
        return TR_MIDI7;
    default:
        return 0;
    }
}

/* Filter cutoff at or above this (absolute cents) in the constant part means "no filter"
   (DLS2's default 0x7FFFFFFF). */
#define FC_OFF_CENTS 32000.0f

/* The cutoff a filter runs at when something modulates it (or sets its resonance) but no
   static cutoff is given: SF2's default initialFilterFc, 13500 absolute cents (19.9 kHz). */
#define FC_SF2_DEFAULT_CENTS 13500.0f

/* When the low-pass runs.
   - Plain DLS2: a static cutoff below "off" turns it on; with no cutoff there is no filter,
     and whatever modulates the cutoff or the resonance is ignored with it.
   - Banks converted from SF2 (and DLS banks read by FluidSynth's and SpessaSynth's loaders,
     which map DLS onto SF2 generators) mean otherwise: SF2 always has a filter, at
     initialFilterFc = 13500 cents by default, so a region with EG2 or an LFO to the cutoff,
     velocity to the cutoff, or a resonance, but no static cutoff, filters at 13500 cents
     plus its modulation (FluidR3's saxes and brass sweep down from there; its Steel Drums,
     Bright Grand and Fiddle set a resonance only). So the filter runs when a static cutoff
     below "off" is given, or when any kept connection other than a static cutoff reaches
     the cutoff or the resonance; in the second case without a usable static cutoff (none,
     or "off") the constant part is 13500 cents (*fc_base) and the static "off" connections
     are dropped. The low-pass clamps its frequency to 0.45 of the rate, as FluidSynth does.
   A region with no connection to either destination (every plain DLS1 bank, and DLS2 banks
   without a filter) has no filter at all, exactly as before. */
static void filter_rule(const eng_conn *in, int32_t n, int32_t *filter, float *fc_base, int *static_fc)
{
    int has_fc_base = 0, reached = 0;
    double base = 0.0;
    for (int32_t i = 0; i < n; i++) {
        const eng_conn *c = &in[i];
        if (c->destination != 0x0500 && c->destination != 0x0501)
            continue;
        if (c->destination == 0x0500 && c->source == 0 && c->control == 0) {
            has_fc_base = 1;
            base += c->scale;
        } else if (conn_kept(c)) {
            reached = 1;
        }
    }
    *static_fc = has_fc_base && base < FC_OFF_CENTS && isfinite(base);
    *filter = *static_fc || reached;
    *fc_base = (*filter && !*static_fc) ? FC_SF2_DEFAULT_CENTS : 0.0f;
}

/* The group connection c compiles into (0 note-on destination, 1 static, 2 channel,
   3 dynamic), or -1 when it is dropped; fills cc's kinds, controllers, destination, class
   and scale. filter and static_fc: the filter rule's decision (filter_rule). */
static int conn_group(const eng_conn *c, int32_t filter, int static_fc, eng_cconn *cc)
{
    int dst = dest_index(c->destination);
    int sk = source_kind(c->source, &cc->src_cc);
    int ck = source_kind(c->control, &cc->ctl_cc);
    float scale = c->scale;
    if (dst < 0 || sk < 0 || ck < 0 || !isfinite(scale))
        return -1;
    /* a zero scale adds nothing to a continuous destination, but it sets a note-on
       parameter (an absolute pitch or time of 0) */
    if (scale == 0.0f && dst < D_NCONT)
        return -1;
    if ((dst == D_FC || dst == D_Q) && !filter)
        return -1;
    if (dst == D_FC && !static_fc && sk == SK_CONST && ck == SK_CONST)
        return -1; /* an "off" constant part: the cutoff is *fc_base */
    int cls = kind_class(sk) > kind_class(ck) ? kind_class(sk) : kind_class(ck);
    if (dst == D_KEYNUM && cls == CC_DYNAMIC)
        return -1; /* the key number is not modulated at control rate */
    cc->src = (uint8_t)sk;
    cc->ctl = (uint8_t)ck;
    cc->dst = (uint8_t)dst;
    cc->cls = (uint8_t)cls;
    cc->scale = scale;
    return dst >= D_NCONT ? 0 : 1 + cls;
}

/* cc's source and control transforms (TR_* bits) from the DLS transform word t; cc's kinds
   and destination are set. */
static void conn_transforms(unsigned t, eng_cconn *cc)
{
    int sk = cc->src, ck = cc->ctl;
    unsigned out_curve = t & 0xF;
    unsigned src_curve = (t >> 10) & 0xF;
    unsigned ctl_curve = (t >> 4) & 0xF;
    if (src_curve == 0 && out_curve != 0 && out_curve <= 3)
        src_curve = out_curve; /* a level-1 style output transform on the source */
    if (src_curve > 3)
        src_curve = 0;
    if (ctl_curve > 3)
        ctl_curve = 0;
    cc->src_tr = (uint8_t)(src_curve | ((t & 0x4000) ? TR_BIPOLAR : 0) | ((t & 0x8000) ? TR_INVERT : 0) |
                           kind_bits(sk));
    cc->ctl_tr = (uint8_t)(ctl_curve | ((t & 0x0100) ? TR_BIPOLAR : 0) | ((t & 0x0200) ? TR_INVERT : 0) |
                           kind_bits(ck));
    if (sk == SK_CONST)
        cc->src_tr &= TR_INVERT; /* a constant has no curve; invert makes it 0 */
    if (ck == SK_CONST)
        cc->ctl_tr &= TR_INVERT;
    if (cc->dst == D_PITCH && sk == SK_KEY)
        cc->src_tr |= TR_KEYREL; /* key tracking; the key as a control only scales */
}

/* What a dynamic connection needs computed per control tick (USE_* bits). */
static int32_t dynamic_uses(const eng_cconn *cc)
{
    int32_t uses = eng_uses_bit(cc->src) | eng_uses_bit(cc->ctl);
    if (cc->dst == D_PITCH)
        uses |= USE_DYN_PITCH;
    return uses;
}

void eng_conn_compile(const eng_conn *in, int32_t n, eng_cconn *out, int32_t *n_out,
                      int32_t *first_static, int32_t *first_channel, int32_t *first_dynamic,
                      int32_t *uses, int32_t *filter, float *fc_base)
{
    /* Four passes keep the groups in input order: note-on dests, static, channel, dynamic. */
    int32_t count = 0;
    int static_fc = 0;
    *uses = 0;
    filter_rule(in, n, filter, fc_base, &static_fc);
    for (int pass = 0; pass < 4; pass++) {
        if (pass == 1)
            *first_static = count;
        else if (pass == 2)
            *first_channel = count;
        else if (pass == 3)
            *first_dynamic = count;
        for (int32_t i = 0; i < n; i++) {
            eng_cconn cc;
            int group = conn_group(&in[i], *filter, static_fc, &cc);
            if (group != pass)
                continue;
            conn_transforms(in[i].transform, &cc);
            out[count++] = cc;
            if (group == 3)
                *uses |= dynamic_uses(&cc);
        }
    }
    *n_out = count;
}
