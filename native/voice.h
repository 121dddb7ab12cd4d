/*
 * dlsynth voice engine: internal data structures shared by the engine's files (eng_*.c:
 * engine, events, voice allocation, mixer; eng_internal.h lists them by thread), voice.c
 * (articulation: envelopes, LFOs, filter design, control-rate planning), eng_conn_compile.c
 * (the connections, compiled at download) and voice_render.c (the per-sample kernels).
 *
 * Not part of the cffi interface (see engine.h for that).
 *
 * Units are named in the field comments: frames (sample frames at the engine's rate unless
 * said otherwise), cents, cB (centibels), tc (timecents), permille (0.1 %).
 *
 * Time model. The engine keeps an absolute frame clock. Control ticks fall on multiples of
 * ENG_CTRL of that clock (never on block boundaries), so the output does not depend on the
 * block sizes render is called with. At a tick (or at an event that changes a voice) the
 * voice is "planned": its modulators are evaluated at the end of the plan (the next tick,
 * or the one after if that is too close) and every gain and filter coefficient ramps
 * linearly, in closed form from the plan's start frame, to that target. Pitch (the phase
 * increment) is constant within a plan. Every per-sample quantity is therefore a pure
 * function of the absolute frame and the plan, whatever the block boundaries.
 */
#ifndef DLSYNTH_VOICE_H
#define DLSYNTH_VOICE_H

#include <stdatomic.h>
#include <stdint.h>

#include "engine.h"

#define ENG_CTRL 64             /* control interval, frames (ticks at multiples of the clock) */
#define ENG_MIN_RAMP 32         /* a plan starting mid-interval ramps over at least this */
#define ENG_GUARD 8             /* guard frames either side of every playback buffer: the
                                   taps reach -3..+4 frames, the SIMD loads up to 8 past the
                                   first position of a group of outputs */
#define ENG_SEAM 8              /* a long loop's seam image: frames either side of the seam
                                   played from it (>= the taps' reach past a position, 4) */
#define ENG_SEAM_MIN_LOOP 32    /* loops shorter than this (frames) get full loop images */
#define ENG_FRAC 32             /* phase: 32.32 fixed point, in frames of the buffer */
#define ENG_MAX_RATIO 512.0     /* largest phase increment, frames per output frame */
#define ENG_MAX_FRAMES ((int64_t)1 << 30)
#define ENG_SINC_TAPS 8
#define ENG_SINC_PHASES 1024

/* The SIMD kernels this build has (voice_render.c; the variants are ENG_SIMD_* of engine.h):
   SSE2 on x86 (the x86-64 baseline), and AVX2 and AVX-512 where GCC-style target attributes exist
   (run only on a CPU that has it). The scalar kernels are always there. */
#if defined(__SSE2__) || defined(__x86_64__) || defined(_M_X64)
#define ENG_SIMD 1
#else
#define ENG_SIMD 0
#endif
#if ENG_SIMD && defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define ENG_AVX2 1
#define ENG_AVX512 1 /* the cubic's sixteen-lane form (AVX-512 F and BW) */
#endif

/* ---------------------------------------------------------------------------------------
 * Compiled connections
 * ------------------------------------------------------------------------------------- */

/* Source kinds. */
enum {
    SK_CONST = 0,   /* CONN_SRC_NONE: 1 */
    SK_VEL,         /* note-on velocity / 128 */
    SK_KEY,         /* effective key / 128 (key plus the KEYNUMBER destination) */
    SK_PW,          /* pitch wheel, bipolar */
    SK_CHP,         /* channel (mono) pressure / 128 */
    SK_POLY,        /* poly pressure of the voice's key / 128 */
    SK_CC,          /* controller n / 128 */
    SK_RPN0,        /* bend range in semitones / 128 */
    SK_RPN1,        /* fine tune, bipolar (+-100 cents) */
    SK_RPN2,        /* coarse tune, bipolar (+-64 semitones) */
    SK_LFO,         /* modulation LFO, bipolar */
    SK_VIB,         /* vibrato LFO, bipolar */
    SK_EG1,         /* volume envelope level, 0..1 */
    SK_EG2,         /* modulation envelope, 0..1 */
    SK_COUNT
};

/* Destinations: the first D_NCONT are continuous (evaluated at every plan), the rest are
   note-on parameters (evaluated once when the voice starts). */
enum {
    D_GAIN = 0,     /* cB */
    D_PITCH,        /* cents */
    D_PAN,          /* permille, -500..500 */
    D_KEYNUM,       /* cents of key (100 per semitone) added to the key number */
    D_REVERB,       /* permille */
    D_CHORUS,       /* permille */
    D_FC,           /* filter cutoff, absolute cents */
    D_Q,            /* filter resonance, cB */
    D_NCONT,
    D_LFO_FREQ = D_NCONT, /* absolute cents */
    D_LFO_DELAY,    /* tc */
    D_VIB_FREQ,
    D_VIB_DELAY,
    D_EG1_DELAY, D_EG1_ATTACK, D_EG1_HOLD, D_EG1_DECAY, D_EG1_SUSTAIN, D_EG1_RELEASE,
    D_EG1_SHUTDOWN,
    D_EG2_DELAY, D_EG2_ATTACK, D_EG2_HOLD, D_EG2_DECAY, D_EG2_SUSTAIN, D_EG2_RELEASE,
    D_COUNT
};

/* Transform bits of a compiled source or control. */
#define TR_CURVE_MASK 3u  /* 0 linear, 1 concave, 2 convex, 3 switch */
#define TR_BIPOLAR 4u
#define TR_INVERT 8u
#define TR_MIDI7 16u      /* a 7-bit MIDI value: unipolar curves span 0..127 */
#define TR_KEYREL 32u     /* (src_tr only) a key-number-to-pitch connection: its value at the
                             region's unity note is subtracted, so it acts around the unity note */

/* Connection classes, by the slowest-changing of source and control. */
enum { CC_STATIC = 0, CC_CHANNEL = 1, CC_DYNAMIC = 2 };

typedef struct {
    uint8_t src, ctl;       /* SK_* */
    uint8_t src_cc, ctl_cc; /* controller number for SK_CC */
    uint8_t src_tr, ctl_tr; /* TR_* */
    uint8_t dst;            /* D_* */
    uint8_t cls;            /* CC_* */
    float scale;            /* destination units */
} eng_cconn;

/* ---------------------------------------------------------------------------------------
 * Sample pool
 * ------------------------------------------------------------------------------------- */

/* The pool holds 16-bit PCM as downloaded (int16 samples; the kernels scale by 1/32768,
   exactly, as they load). Playback inside a loop uses the phase in the loop's own
   coordinates (buffer index j = frame - loop_start + ENG_GUARD).

   Loop images of one (wave, loop start, loop end), per channel:
   - a short loop (length < ENG_SEAM_MIN_LOOP frames): two full images, each of
     loop_length + 2 * ENG_GUARD int16 samples in loop coordinates. The right guard of both
     holds the loop's start (the interpolator reads through the seam); the left guard of
     "first" holds the wave's frames before the loop (first pass), that of "again" the
     loop's end (after a wrap).
   - a long loop: first = NULL, and "again" is only the seam: 2 * (ENG_SEAM + ENG_GUARD)
     int16 samples, seam[a] = the loop's frame at loop position loop_length - ENG_SEAM -
     ENG_GUARD + a (taken modulo the loop), so the loop's end is followed by its start.
     The voice plays from the main buffer except within ENG_SEAM frames of the seam (on
     the first pass only before it: there the main buffer's real frames before the loop
     are what the first pass reads). */
typedef struct eng_loopimg {
    struct eng_loopimg *next;
    uint32_t start, end;    /* frames */
    int32_t channels;
    int32_t seam;           /* 1: a long loop (first NULL, again the seam image) */
    int16_t **first;        /* per wave channel, int16 PCM (entries NULL for a long loop) */
    int16_t **again;        /* per wave channel, int16 PCM */
} eng_loopimg;

typedef struct eng_wave {
    int32_t id;
    int32_t channels;
    int64_t frames;
    double rate;            /* Hz */
    int16_t **main;         /* per channel: frames + 2 * ENG_GUARD int16 samples (16-bit
                               PCM, zero guards), index j = frame + ENG_GUARD */
    eng_loopimg *loops;
    int32_t refs;           /* instruments using it (producer thread only) */
    uint64_t bytes;         /* pool bytes held by its buffers and loop images */
} eng_wave;

/* ---------------------------------------------------------------------------------------
 * Instruments
 * ------------------------------------------------------------------------------------- */

/* A compiled connection list with what its compile decided, shared by every region of
   every instrument whose articulation compiles to the same: interned by content in the
   engine's table (eng_instruments.c), freed with the last instrument holding it. */
typedef struct {
    int32_t n_conn;             /* compiled connections, sorted: note-on destinations, static,
                                   channel, dynamic */
    int32_t first_static, first_channel, first_dynamic;
    int32_t uses;               /* USE_* bits: which time-varying sources the dynamic part reads */
    int32_t filter;             /* 1: the low-pass runs */
    float fc_base;              /* absolute cents added to the cutoff at note-on: the SF2
                                   default 13500 when the filter runs without a static
                                   cutoff, else 0 */
} eng_conn_meta;                /* what a compile decided besides the connections */

typedef struct eng_connlist {
    struct eng_connlist *next;  /* the next list in its hash bucket */
    uint64_t hash;              /* of m and the connections */
    int32_t refs;               /* instruments holding it (producer thread only) */
    uint32_t taken_by;          /* the download (eng_engine.conn_download) that last took it */
    eng_conn_meta m;
    eng_cconn conn[];
} eng_connlist;

typedef struct {
    uint8_t key_lo, key_hi, vel_lo, vel_hi;
    uint16_t key_group;
    uint16_t flags;         /* ENG_RGN_* */
    uint8_t nch;            /* 1 or 2 output channels of wave data */
    uint8_t out_mask;       /* 0, 1 = left only, 2 = right only */
    uint8_t loop_seam;      /* 1: a long loop played from main plus the seam image */
    uint8_t has_loop;
    uint8_t loop_type;      /* ENG_LOOP_* (NONE if loop == NULL) */
    const int16_t *main[2];   /* per output channel, main buffers (int16 PCM) */
    const int16_t *lfirst[2]; /* per output channel, loop images (first pass / after a wrap; */
    const int16_t *lagain[2]; /* a long loop: lfirst NULL, lagain the seam image), int16 PCM */
    uint32_t loop_start, loop_end; /* frames */
    int64_t frames;
    float unity_note;       /* MIDI key the wave sounds at unshifted */
    float fine_tune;        /* cents */
    float attenuation;      /* cB */
    double rate_ratio;      /* wave rate / engine rate */
    const eng_connlist *cl; /* its compiled connections (shared, interned) */
} eng_region;

#define ENG_LIVE_MAX 16          /* dynamic connections a voice keeps a list of */
#define USE_LFO 1
#define USE_VIB 2
#define USE_EG2 4
#define USE_EG1 8
#define USE_DYN_PITCH 16  /* a dynamic connection reaches pitch: evaluated mid-plan */

/* The USE_* bit of a source kind (SK_*): 0 for the kinds that do not vary in time. */
static inline int eng_uses_bit(int kind)
{
    switch (kind) {
    case SK_LFO: return USE_LFO;
    case SK_VIB: return USE_VIB;
    case SK_EG2: return USE_EG2;
    case SK_EG1: return USE_EG1;
    default: return 0;
    }
}

typedef struct eng_instrument {
    int32_t id;
    int32_t n_regions;
    eng_region *regions;
    eng_connlist **lists;   /* distinct connection lists its regions use (for refcounts) */
    int32_t n_lists;
    eng_wave **waves;       /* distinct waves referenced (for refcounts) */
    int32_t n_waves;
    /* Render-thread state. */
    int32_t dead;           /* unload requested: no new notes */
    int32_t voices;         /* voices playing it */
    int32_t pending;        /* in the engine's pending-unload list */
    /* Shared: set by the render thread (release) when it is finished. */
    atomic_int finished;
} eng_instrument;

/* ---------------------------------------------------------------------------------------
 * Channels
 * ------------------------------------------------------------------------------------- */

typedef struct {
    eng_instrument *ins;
    uint32_t priority;
    uint32_t version;       /* bumped when a connection source changes */
    uint16_t bend;          /* 0..16383 */
    uint8_t chp;            /* channel pressure 0..127 */
    uint8_t sustain, sostenuto, soft; /* pedals: 1 down, 0 up */
    float bend_range;       /* cents (RPN 0) */
    float fine;             /* cents (RPN 1) */
    float coarse;           /* semitones (RPN 2) */
    uint8_t cc[128];
    uint8_t poly[128];
} eng_channel;

/* ---------------------------------------------------------------------------------------
 * Voices
 * ------------------------------------------------------------------------------------- */

/* Envelope (DAHDSR plus release). Levels are 0..1: for EG1 a dB-linear scale over 96 dB
   (the attack is linear in amplitude), for EG2 linear. Times in frames since note-on. */
typedef struct {
    double delay, attack, hold;   /* frames */
    double decay_rate;      /* level per frame */
    double release_rate;    /* level per frame */
    float sustain;          /* 0..1 */
    int32_t released;
    double rel_t;           /* frames since note-on when the release began */
    float rel_level;        /* level then */
} eng_eg;

typedef struct {
    double delay;           /* frames */
    double freq;            /* cycles per frame */
} eng_lfo;

/* Play states. */
enum { PS_PRELOOP = 0, PS_LOOP = 1, PS_TOEND = 2, PS_DONE = 3 };

typedef struct {
    float b0, a1, a2;       /* y = b0 (x + 2 x1 + x2) - a1 y1 - a2 y2 */
} eng_coef;

/* Aligned to a cache line: voices next to each other in the slot table are often rendered
   by different threads (native/eng_workers.c), which must not share a line. */
typedef struct eng_voice {
    /* --- hot: read by the kernels --- */
    _Alignas(64)
    const int16_t *buf[2];  /* current playback buffer per output channel, int16 PCM (in
                               PS_LOOP the kernels' buffers come from the region: see
                               eng_voice_interp) */
    uint64_t ph;            /* phase, 32.32 frames in buf's coordinates (PS_LOOP: the loop's) */
    uint64_t inc;           /* phase increment per output frame, 32.32 frames */
    uint64_t lim;           /* phase at which the current run ends (loop end, loop start, end) */
    int32_t state;          /* PS_* */
    int32_t wrapped;        /* PS_LOOP: 0 on the first pass through the loop, 1 after a wrap */
    int32_t nch;
    int32_t filter;
    float fx[2][4];         /* filter state per channel: x1, x2, y1, y2 */
    eng_coef c0, dc;        /* filter coefficients at ramp start and per frame */
    int32_t coef_ramp;
    /* gains: left, right, reverb send, chorus send; value(n) = g0 + (n - r0) * dg */
    float g0[4], dg[4];
    uint64_t r0;            /* ramp start (absolute frame) */
    uint64_t ramp_end;      /* plan end (absolute frame) */
    uint64_t end_at;        /* free the voice once rendering reaches this frame (0 = no) */
    uint64_t done_at;       /* with done_seen: the frame its wave ran out (PS_DONE) */
    int32_t done_seen;
    int32_t steady;         /* the last plan changed nothing and its sources hold: the next
                               control tick's plan would set the same values (eng_voice_plan) */

    /* --- identity: written by the render thread (events), read by its scans of the
       active list; a cache line of its own, apart from what the workers write --- */
    _Alignas(64) int32_t active;
    int32_t channel;
    uint8_t key, vel;
    uint8_t note_on;        /* key held (no note-off yet, or held by a pedal) */
    uint8_t sustained;      /* note-off arrived while the sustain pedal was down */
    uint8_t sostenuto;      /* latched by the sostenuto pedal */
    uint8_t sost_off;       /* note-off arrived while latched */
    uint8_t fading;         /* stolen / cut: linear fade to silence */
    uint8_t end_reason;     /* ENG_END_* of a cut (0: it ends on its own) */
    uint32_t priority;
    uint64_t start;         /* absolute frame of note-on */
    uint64_t serial;        /* allocation order */
    eng_instrument *ins;
    const eng_region *rgn;
    int32_t stem;           /* its stem (eng_set_stems), 0 without */
    uint32_t note;          /* the serial of the note that started it (labels) */

    /* --- articulation state --- */
    _Alignas(64) float key_eff; /* key + KEYNUM destination, semitones */
    uint32_t chan_version;
    float stat[D_NCONT];    /* static sums */
    float chan[D_NCONT];    /* channel sums */
    eng_eg eg1, eg2;
    eng_lfo lfo, vib;
    double shutdown_rate;   /* EG1 level per frame when cut */
    uint64_t fade_start;    /* fading: linear fade over fade_len frames, from this frame */
    double fade_len;        /* frames */
    /* caches of the last plan */
    float last_pitch;       /* cents */
    float last_gain_cb;
    float last_amp_static;  /* 10^(gain/200) */
    float last_pan;         /* permille, -500 left .. 500 right */
    float pan_l, pan_r;     /* linear gains */
    float last_fc, last_q;  /* filter cutoff (absolute cents) and resonance (cB) */
    float hiq;              /* 1 / (2 Q) of the last resonance */
    float qgain;            /* passband gain compensation of the last resonance */
    float dyn_pitch;        /* time-varying part of the pitch (cents) at dyn_pitch_t */
    uint64_t dyn_pitch_t;
    /* The dynamic connections that can contribute while the channel stays as it is (set
       with the channel sums): a connection whose control does not vary in time and reads 0
       (vibrato by a mod wheel at rest, say) adds exactly 0 and is left out. n_live -1: more
       than ENG_LIVE_MAX, every dynamic connection is evaluated. */
    int32_t n_live;
    int32_t live_uses;      /* USE_* bits of the live connections */
    uint16_t live[ENG_LIVE_MAX];  /* their indices in the region's connection list */
    float live_ctl[ENG_LIVE_MAX]; /* a time-invariant control's transformed value, or NAN:
                                     the control varies and is evaluated per plan */
    float level;            /* last planned output level (l + r), for stealing */
    double ratio;           /* wave rate / engine rate */
    float soft_cb;     /* note-on-time gain offsets (soft pedal), cB */
} eng_voice;

/* ---------------------------------------------------------------------------------------
 * Engine
 * ------------------------------------------------------------------------------------- */

typedef struct {
    uint64_t time;
    uint64_t seq;
    eng_event ev;
} eng_pending;

/* One run's render work, handed out as items (native/eng_workers.c): the voices in mix
   groups of ENG_GROUP consecutive entries of the active list, each group into its own bus
   rows, and the finish of the run before (its groups summed in group order, the effects,
   the output), which runs alongside. A run spans the frames from one hand-out to the next:
   up to ENG_RUN of them, never across an event, a block's end or a multiple of ENG_RUN;
   each group renders its voices through the run's control ticks itself (planning them
   there), so there is one hand-out per run, not per tick. The active list changes only at
   multiples of ENG_RUN (the ended voices freed), at events (the ended voices freed, new
   ones appended) and nowhere else, and a voice that has ended by a control tick adds
   nothing after it, so the summing tree is fixed by the absolute frame alone: the output
   is the same whichever thread runs which item, whatever the thread count and the block
   sizes. */
#define ENG_GROUP 8             /* voices per mix group */
#define ENG_FX_VOICES 24        /* the effects' cost, in voices (the sharing threshold, and
                                   the first estimate of a finish's share of the work) */
#define ENG_FIN_WEIGHT_MAX 256

/* A group's ended-voices mask, alone in its cache line (written by the thread that rendered
   the group, read by the render thread's free pass instead of every voice). */
typedef struct eng_gmask {
    _Alignas(64) uint32_t bits;
    uint32_t skipped;       /* control-tick plans of steady voices skipped (eng_voice_tick_plan)
                               since the render thread last took the count */
} eng_gmask;
#define ENG_RUN (16 * ENG_CTRL) /* a run's frames at most; ended voices are freed at its multiples */
#define ENG_BUS_FLOATS (4 * ENG_RUN + 16) /* a group's bus rows: left, right, reverb, chorus,
                                   then a cache line whose first word says which sends
                                   the group wrote (ENG_SEND_*: the others hold stale data) */
#define ENG_SEND_REV 1u
#define ENG_SEND_CHO 2u

typedef struct {
    float *out;             /* interleaved stereo, n frames */
    int32_t n;              /* frames */
    int32_t n_entries;      /* active-list entries mixed (stems: their rows) */
    int32_t n_stems;        /* stems that exist (written, stems on) */
    float *stem_out;        /* stem 0's first frame of the run (stems on), else NULL */
    int32_t n_groups;
    int32_t par;            /* which half of the group buffers holds its groups */
    int32_t fx_on;
    float gain;             /* master gain times master volume */
} eng_finish;

typedef struct {
    uint64_t at;            /* absolute frame of the run's first frame */
    uint64_t end;           /* and of the frame after its last */
    int32_t n;              /* frames (at most ENG_RUN) */
    int32_t n_groups;
    int32_t par;
    int32_t sends;          /* mix the reverb and chorus sends (the effects are on) */
    int32_t stems;          /* each voice's dry output into its entry's row too (stems on) */
    int32_t has_finish;     /* item 0 is `finish` (of the run before) */
    eng_finish finish;
} eng_job;

typedef struct {
    atomic_uint version;    /* odd while the producer writes */
    double room, damping, width, level; /* reverb: each 0..1 (level linear) */
    int32_t cvoices, ctype;             /* chorus: voices, type (0 sine, 1 triangle) */
    double clevel, speed, depth;        /* chorus: level (linear), speed (Hz), depth (ms) */
    int32_t reverb_set, chorus_set; /* which parts were set */
} eng_fxmail;

struct eng_engine {
    int32_t rate;
    int32_t max_voices;     /* polyphony (voices not fading) */
    int32_t n_slots;        /* voice slots: max_voices plus room for fading voices */
    int32_t n_channels;
    int32_t interp;
    int32_t simd;           /* ENG_SIMD_*: the kernels' variant (eng_set_simd; at creation
                               the best this CPU has, DLSYNTH_NO_AVX2 aside) */
    int32_t max_instruments, max_waves;

    /* event ring (producer -> render) */
    eng_event *ring;
    uint32_t ring_mask;
    _Alignas(64) atomic_uint ring_head; /* written by the producer */
    _Alignas(64) atomic_uint ring_tail; /* written by the render thread */
    _Alignas(64) uint64_t push_seq;

    /* finished ring (render -> producer) */
    int32_t *fin;
    uint32_t fin_mask;
    _Alignas(64) atomic_uint fin_head; /* render thread */
    _Alignas(64) atomic_uint fin_tail; /* producer */

    /* render-thread state */
    _Alignas(64) uint64_t pos;
    eng_pending *heap;
    int32_t heap_n, heap_cap;
    uint64_t seq;
    eng_channel *chan;
    eng_voice *voices;
    int32_t *act;           /* indices of active voices, in a deterministic order */
    int32_t n_act;
    int32_t n_playing;      /* active and not fading (counts against max_voices) */
    int32_t *free_list;
    int32_t n_free;
    uint64_t serial;
    eng_instrument **unloading;
    int32_t n_unloading;
    float master_volume;    /* from ENG_EV_MASTER_VOLUME, linear */
    float *mix;             /* 6 * ENG_RUN: L, R, reverb, chorus, scratch */
    float *tmp;             /* per thread (render thread first) ENG_TMP_FLOATS: 2 * ENG_PEND_VOICES
                               + 1 rows of ENG_ROW floats (the last: zeros) */
    float *gbuf;            /* 2 * max_groups * ENG_BUS_FLOATS: the mix groups' bus rows, two
                               halves (a run's groups, the one before's being finished) */
    int32_t max_groups;     /* ceil(n_slots / ENG_GROUP) */
    int32_t gpar;           /* the half the current run writes */
    eng_job job;            /* the run being handed out */
    struct eng_gmask *gmask; /* max_groups: which voices of each group had ended by the end
                               of the last run rendered (bit k: the group's voice k) */
    int32_t gmask_groups;   /* groups those masks cover; 0: none (a free pass used them) */
    int32_t n_threads;      /* render thread plus workers */
    struct eng_pool *pool;  /* the workers (NULL with one thread) */
    int32_t par_min_work;   /* voice-frames: smaller runs render on the render thread */
    int32_t par_strict;     /* each thread runs exactly its share (eng_set_sharing) */
    int32_t fin_weight[2];  /* a finish's share of the work, in voices (effects off, on):
                               adjusted as the render thread's share proves too big or small */
    atomic_ullong st_parallel; /* runs shared out */
    atomic_ullong st_voice_frames; /* active voices at each block's end times its frames, summed */
    atomic_ullong st_skipped;      /* control-tick plans skipped for steady voices */
    const float *sinc;      /* ENG_SINC_PHASES * ENG_SINC_TAPS */
    float *sinc_mem;
    fx_reverb *reverb;
    fx_chorus *chorus;
    uint32_t fx_seen;

    /* shared settings */
    atomic_int effects_on;
    _Atomic float master_gain;  /* linear */
    eng_fxmail fxmail;
    int32_t fx_seen_on;

    /* slot tables (published with release stores) */
    _Atomic(eng_instrument *) *ins_table;
    eng_wave **wave_table;  /* producer thread only */
    eng_connlist **conn_lists; /* interned connection lists: hash buckets (producer only) */
    uint32_t conn_mask;        /* buckets - 1 */
    uint32_t conn_download;    /* instrument downloads so far (eng_connlist.taken_by) */

    /* stats (written by the render thread, read anywhere) */
    atomic_ullong st_pos;
    atomic_uint st_active, st_peak;
    atomic_ullong st_late, st_stolen, st_dropped, st_lost;
    atomic_uint st_instruments, st_waves;
    atomic_ullong st_bytes;
    atomic_ullong st_ins_bytes; /* instruments' regions and connection lists, bytes */
    atomic_ullong st_ignored_sysex;

    /* MIDI semantics (native/midi.c): channel state, patch table, reports */
    struct mid_state *midi;
    int32_t cur_tag;        /* the tag of the MIDI message being applied (0: none) */

    /* stems (native/eng_stems.c): everything NULL / 0 while off */
    int32_t stems_by;       /* ENG_STEMS_* */
    int32_t stems_max;
    int32_t n_stems;        /* stem 0 (the effects) included */
    uint64_t *stem_keys;    /* open-addressing table: key + 1 (0 = empty slot) */
    int32_t *stem_index;    /* per table slot: its stem */
    uint32_t stem_mask;
    eng_stem_info *stem_info; /* per stem */
    float *stem_rows;       /* 2 halves * n_slots rows of 2 * ENG_RUN floats: each active
                               entry's dry output (left row, right row) in the run */
    int32_t *stem_of;       /* 2 halves * n_slots: the stem of each entry of that run */
    float *stem_wet;        /* 4 * ENG_RUN: reverb left, right, chorus left, right (wet) */
    float *stem_out;        /* eng_set_stem_output: stems_max * 2 * stem_frames floats */
    int32_t stem_frames;

    /* note labels (native/eng_stems.c): NULL while off */
    eng_label *labels;
    uint32_t label_mask;
    int32_t labels_done;    /* eng_labels_finish ran: no more records */
    uint32_t note_serial;
    _Alignas(64) atomic_uint label_head; /* render thread */
    _Alignas(64) atomic_uint label_tail; /* producer */
    atomic_ullong st_labels_lost;
};

/* eng_conn_compile.c (producer thread, download time) */
void eng_conn_compile(const eng_conn *in, int32_t n, eng_cconn *out, int32_t *n_out,
                      int32_t *first_static, int32_t *first_channel, int32_t *first_dynamic,
                      int32_t *uses, int32_t *filter, float *fc_base);

/* voice.c (render thread) */
void eng_voice_start(eng_engine *e, eng_voice *v, uint64_t now);
void eng_voice_plan(eng_engine *e, eng_voice *v, uint64_t now, uint64_t end);
int eng_voice_tick_plan(eng_engine *e, eng_voice *v, uint64_t tick);
void eng_voice_release(eng_engine *e, eng_voice *v, uint64_t now);
void eng_voice_cut(eng_engine *e, eng_voice *v, uint64_t now, int fast);
uint64_t eng_plan_end(uint64_t now);

/* voice_render.c */
typedef struct {
    float *x;               /* n frames, filtered in place */
    float *st;              /* x1, x2, y1, y2 */
    eng_coef c, dc;
    float k0;               /* frames from the ramp start to the first frame */
    int32_t ramp;
} eng_fjob;

#define ENG_PEND_VOICES 8   /* voices interpolated before their filters run as a group */
#define ENG_ROW (ENG_CTRL + 8) /* floats per scratch row */
#define ENG_TMP_FLOATS (((2 * ENG_PEND_VOICES + 1) * ENG_ROW + 15) / 16 * 16) /* per thread */

void eng_sinc_table(float *table);
/* at: the absolute frame of t0[0] (a voice whose wave runs out notes the frame, done_at) */
void eng_voice_interp(eng_engine *e, eng_voice *v, uint64_t at, int32_t n, float *t0, float *t1);
/* simd: ENG_SIMD_* (AVX2 runs the AVX2 filter for five to eight jobs, the SSE2 one below) */
void eng_filter_jobs(const eng_fjob *jobs, int nj, int32_t n, float *dummy, int32_t simd);
/* out_rev or out_cho NULL: that send is not mixed (the effects are off, or its gain is
   zero throughout the piece: the caller checks). */
void eng_voice_mix(const eng_voice *v, uint64_t at, int32_t n, const float *t0, const float *t1,
                   float *out_l, float *out_r, float *out_rev, float *out_cho, int32_t simd);

/* eng_stems.c (render thread unless said) */
void eng_stems_free(eng_engine *e);   /* the stems' memory (eng_set_stems, eng_destroy) */
int32_t eng_stem_for(eng_engine *e, int32_t channel, uint32_t patch, int32_t tag, uint64_t now);
/* The voices' dry rows of one run and a stemmed finish (stems on and an output set). */
static inline int eng_stems_on(const eng_engine *e) { return e->stem_rows && e->stem_out; }
float *eng_stem_row(eng_engine *e, int32_t par, int32_t entry);
void eng_stems_finish(eng_engine *e, const eng_finish *f, const float *wet);
void eng_stems_zero_new(eng_engine *e, uint64_t start, int32_t n_before);
void eng_label_push(eng_engine *e, const eng_label *l);
static inline int eng_labels_on(const eng_engine *e) { return e->labels && !e->labels_done; }
/* eng_alloc.c: the ENG_END_* reason and end frame of a voice freed at `at` */
void eng_label_voice_end(eng_engine *e, const eng_voice *v, uint64_t at);

#endif /* DLSYNTH_VOICE_H */
