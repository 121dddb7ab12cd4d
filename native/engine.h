/*
 * dlsynth native core: the public C interface.
 *
 * This header is both what the C sources include and the cffi `cdef` source: the build
 * script (native/build_engine.py) reads the text between the CDEF markers, drops the
 * preprocessor lines, and hands the rest to cffi. Keep declarations there plain C that
 * cffi's parser accepts (no macros in declarations).
 *
 * Prefixes: dls_ (conversion of DLS sample data), fx_ (effects), eng_ (voice engine).
 */
#ifndef DLSYNTH_ENGINE_H
#define DLSYNTH_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CDEF-BEGIN */

/* --- dls_: DLS sample data and the file's structure (native/eng_waves.c, native/riffwalk.c) --- */

/* 8-bit unsigned PCM (128 = silence) to 16-bit signed PCM: dst[i] = (src[i] - 128) * 256. */
void dls_u8_to_s16(const uint8_t *src, int16_t *dst, size_t count);

/* The chunks directly inside n RIFF lists of buf (len bytes), list i's chunks spanning
   [start[i], end[i]): with parent NULL, how many there are; else each one's list (parent),
   offset (pos, of its header), id (cid) and data size in bytes, in list order and file
   order within a list (at most cap), and each list's stray bytes at its end (fewer than 8,
   no chunk header). Negative on a malformed tree (native/riffwalk.c). */
enum {
    DLS_RIFF_OVERRUN = -1,    /* a chunk (or a list's span) overruns its parent */
    DLS_RIFF_SHORT_LIST = -2, /* a LIST or RIFF chunk too short for its form type */
    DLS_RIFF_CAPACITY = -3    /* more chunks than cap */
};
int64_t dls_riff_children(const uint8_t *buf, int64_t len, const int64_t *start, const int64_t *end, int64_t n,
                          int64_t *parent, int64_t *pos, uint32_t *cid, int64_t *size, int64_t *stray, int64_t cap);

/* 1 when this build has AddressSanitizer compiled in, 2 for ThreadSanitizer, else 0 (so
   tests can prove which build ran; native/build_info.c). */
int dls_built_with_sanitizer(void);

/* --- fx_: reverb and chorus (native/effects.c) --- */

/* Both units read a mono send bus and ADD their stereo wet output into out_left/out_right.
   Memory is allocated only by fx_*_new (NULL on failure or a sample rate outside
   1000..768000 Hz); process never allocates or locks, is denormal-safe and deterministic,
   and gives identical output however the stream is cut into blocks. in_mono may alias
   out_left or out_right. Once a tail has decayed (to exact zero), a silent input block
   costs O(1). set and process must not run concurrently (the engine applies parameter
   changes on the render thread, between blocks). */
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
/* The AVX2 loop (the eight lines in one vector; the same output bit for bit) on or off;
   on by default where the CPU has AVX2 and DLSYNTH_NO_AVX2 is not set. fx_reverb_avx2:
   whether it runs. */
void fx_reverb_set_avx2(fx_reverb *r, int on);
int fx_reverb_avx2(const fx_reverb *r);
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
/* As for the reverb: the AVX2 tap reads (the same output bit for bit) on or off. */
void fx_chorus_set_avx2(fx_chorus *c, int on);
int fx_chorus_avx2(const fx_chorus *c);
/* Range (ms) swept by the voices' delays at the current settings. */
void fx_chorus_get_delay_range_ms(const fx_chorus *c, double *min_ms, double *max_ms);

/* --- eng_: the voice engine (native/eng_*.c, native/voice.c, native/voice_render.c) ---

   An opaque engine: a sample pool, compiled instruments, channels, voices and a mixer.
   Memory is allocated by eng_create and by the download calls (wave/instrument create),
   which run on the producer (Python) thread; eng_render never allocates, locks or does I/O.
   Events travel through a bounded single-producer single-consumer ring: exactly one thread
   at a time may call eng_push/eng_push_events (the Python wrapper holds a lock). */
typedef struct eng_engine eng_engine;

/* Event types (eng_event.type). Channel = group * 16 + MIDI channel. */
enum {
    ENG_EV_NOTE_ON = 1,          /* a = key 0..127, b = velocity 0..127 (0 = note off) */
    ENG_EV_NOTE_OFF = 2,         /* a = key */
    ENG_EV_CONTROL = 3,          /* a = controller 0..127, b = value 0..127 */
    ENG_EV_PITCH_BEND = 4,       /* a = 14-bit value 0..16383, 8192 = centre */
    ENG_EV_CHANNEL_PRESSURE = 5, /* a = value 0..127 */
    ENG_EV_POLY_PRESSURE = 6,    /* a = key, b = value 0..127 */
    ENG_EV_PROGRAM = 7,          /* a = instrument id, or -1 for none */
    ENG_EV_PARAM = 8,            /* a = ENG_PARAM_*, b = value */
    ENG_EV_MASTER_VOLUME = 9,    /* a = master volume in millibels (1/100 dB, <= 0), channel ignored */
    ENG_EV_RESET_ALL = 10,       /* GM reset: every voice fades out, every channel to defaults */
    ENG_EV_UNLOAD_INSTRUMENT = 11, /* a = instrument id: voices fade, id reported by eng_poll_finished */
    /* MIDI-level events, given meaning on the render thread by native/midi.c (bank select,
       program change through the patch table, RPN, drum flags); channel = channel group
       (1..groups; 0 = every group). Make them with eng_midi_encode. */
    ENG_EV_MIDI = 12,            /* a channel message: a = status | d1 << 8 | d2 << 16 | length << 24 */
    ENG_EV_SYSEX_RESET = 13,     /* GM / GM2 System On, GM Off, GS Reset, XG System On */
    ENG_EV_GS_RHYTHM = 14,       /* GS "use for rhythm part": a = MIDI channel 0..15, b = 1 drums, 0 not */
    ENG_EV_PATCH = 15,           /* patch table: a = patch key (eng_patch_key), b = instrument id, -1 removes */
    ENG_EV_RESELECT = 16         /* every channel selects its patch again (after downloads or unloads) */
};

/* Reports from the render thread (eng_poll_reports), for warnings said once by the producer. */
enum {
    ENG_REPORT_MISSING = 1,      /* a note on a channel whose patch (requested) no bank has */
    ENG_REPORT_FALLBACK = 2      /* patch requested is in no bank; used is what plays instead */
};

/* Channel parameters (ENG_EV_PARAM a). */
enum {
    ENG_PARAM_BEND_RANGE = 0,    /* b = pitch-bend range in cents (RPN 0), default 200 */
    ENG_PARAM_FINE_TUNE = 1,     /* b = cents -100..100 (RPN 1) */
    ENG_PARAM_COARSE_TUNE = 2,   /* b = semitones -64..63 (RPN 2) */
    ENG_PARAM_PRIORITY = 3       /* b = DirectMusic channel priority (uint32 bits) */
};

/* Interpolation (eng_create). */
enum {
    ENG_INTERP_LINEAR = 0,
    ENG_INTERP_CUBIC = 1,        /* 4-point cubic Hermite, the default */
    ENG_INTERP_SINC = 2          /* 8-point Kaiser-windowed sinc */
};

/* Region flags (eng_region_desc.flags). */
enum {
    ENG_RGN_SELF_NON_EXCLUSIVE = 1,
    ENG_RGN_MODENV_CONVEX_ATTACK = 2, /* EG2's attack is convex, as SF2's modulation envelope
                                         (SF2 2.04 8.1.2 #26); DLS's EG2 attack is linear */
    ENG_RGN_ATTENUATION_FLOOR = 4,    /* the note-on and controller gain (SF2's initialAttenuation
                                         with its modulators) never exceeds 0 dB: SF2 clamps
                                         the modulated generator to 0..144 dB */
    ENG_RGN_TRIANGLE_LFOS = 8         /* both LFOs are triangles (SF2); DLS's are sines */
};

/* Loop types (eng_region_desc.loop_type). */
enum {
    ENG_LOOP_NONE = -1,
    ENG_LOOP_FORWARD = 0,        /* loops for the life of the voice */
    ENG_LOOP_RELEASE = 1         /* loops until note-off, then plays on to the end */
};

/* DirectMusic's REFERENCE_TIME: 100 ns units, this many per second (master-clock times). */
enum { ENG_REF_PER_SECOND = 10000000 };
/* What eng_create accepts: sample rate (Hz), voices, MIDI channels (16 per channel group). */
enum { ENG_RATE_MIN = 8000, ENG_RATE_MAX = 192000, ENG_VOICES_MAX = 4096, ENG_CHANNELS_MAX = 16000 };

/* Error codes returned (negative) by the create/destroy calls. */
enum {
    ENG_ERR_ARG = -1,            /* a bad argument (count, channel, range) */
    ENG_ERR_NOMEM = -2,
    ENG_ERR_FULL = -3,           /* no free wave/instrument slot */
    ENG_ERR_WAVE = -4,           /* a region names a wave id that is not downloaded */
    ENG_ERR_BUSY = -5            /* still in use (wave by an instrument; instrument not finished) */
};

/* One timed event. time is the absolute sample frame it applies at. */
typedef struct {
    uint64_t time;          /* frames */
    int32_t type;           /* ENG_EV_* */
    int32_t channel;        /* engine channel (group * 16 + MIDI channel), or as ENG_EV_* says */
    int32_t a;              /* first argument: its meaning and units by type (ENG_EV_*) */
    int32_t b;              /* second argument, likewise */
} eng_event;

/* One connection block, already merged (defaults, then instrument or region articulation)
   by synth/download.py. source/control/destination are the DLS CONN_SRC_ / CONN_DST_ values;
   transform is a DLS2 usTransform (level-1 transforms already mapped to the source);
   scale is lScale / 65536, in the destination's units (cents, centibels, timecents,
   0.1 %; absolute pitch in cents). */
typedef struct {
    uint16_t source;
    uint16_t control;
    uint16_t destination;
    uint16_t transform;
    float scale;
} eng_conn;

/* One compiled region. wave_id[1] >= 0 makes a two-channel voice: the left output plays
   (wave_id[0], wave_channel[0]) and the right (wave_id[1], wave_channel[1]) with one phase
   (a stereo wave, or a stereo pair of mono waves of the same rate). */
typedef struct {
    uint8_t key_lo, key_hi, vel_lo, vel_hi;
    uint16_t key_group;          /* 0 = none */
    uint16_t flags;              /* ENG_RGN_* */
    int32_t wave_id[2];          /* from eng_wave_create; [1] = -1: a mono voice */
    int32_t wave_channel[2];     /* channel of that wave */
    int32_t out_mask;            /* 0: pan as articulated; 1: left only; 2: right only (wave link channel) */
    int32_t unity_note;          /* MIDI key that plays the wave at its own rate */
    float fine_tune;             /* cents */
    float attenuation;           /* centibels, positive attenuates */
    int32_t loop_type;           /* ENG_LOOP_* */
    uint32_t loop_start;         /* frames */
    uint32_t loop_length;        /* frames */
    int32_t conn_offset;         /* into the instrument's connection array */
    int32_t conn_count;
} eng_region_desc;

/* One report from the render thread. channel = engine channel (group * 16 + MIDI channel). */
typedef struct {
    int32_t kind;                /* ENG_REPORT_* */
    int32_t channel;
    uint32_t requested;          /* patch key the channel selected */
    uint32_t used;               /* patch key that plays (FALLBACK), else = requested */
} eng_report;

/* Statistics, read with eng_get_stats. */
typedef struct {
    uint64_t position;           /* absolute sample frame of the next render */
    uint32_t voices_active;
    uint32_t peak_voices;
    uint64_t late_events;        /* applied after their time (at the start of a block) */
    uint64_t stolen_voices;
    uint64_t dropped_events;     /* the ring was full */
    uint64_t dropped_notes;      /* no voice could be found (all busy at higher priority) */
    uint32_t instruments;        /* live instrument slots */
    uint32_t waves;
    uint64_t sample_bytes;       /* bytes of sample pool held by waves and loop images: int16
                                    samples (2 bytes each) with their guard frames, plus the
                                    loops' seam images (a few dozen samples per loop) */
    uint64_t instrument_bytes;   /* bytes the instruments hold besides samples: their region
                                    tables and compiled connection lists (each shared list
                                    once) */
    uint64_t midi_events;        /* MIDI-level events applied */
    uint64_t malformed_midi;     /* channel messages with bad status, data or length */
    uint64_t dropped_group;      /* MIDI events for a channel group that is not open */
    uint64_t ignored_sysex;      /* system exclusive messages with no meaning here (eng_push_midi) */
    uint64_t reports_lost;       /* reports dropped because the report ring was full */
    uint64_t parallel_segments;  /* runs whose voices were shared out among threads */
    uint64_t worker_items;       /* pieces of them (mix groups, finishes) the workers ran */
    uint64_t voice_frames;       /* active voices at the end of each eng_render, times its frames,
                                    summed (over the frames: the average voice count) */
    uint64_t plans_skipped;      /* control-tick plans left out because the voice was steady
                                    (EG1 in its sustain, nothing modulating it, no change since
                                    its last plan): they would have set the same values */
} eng_stats;

/* sample_rate ENG_RATE_MIN..ENG_RATE_MAX, max_voices 1..ENG_VOICES_MAX, channels 1..ENG_CHANNELS_MAX (multiple of 16 not
   required), interpolation ENG_INTERP_*, event_capacity rounded up to a power of two
   (>= 256), max_instruments and max_waves the slot-table sizes. NULL on failure.
   On x86 the AVX2 kernels run when the CPU has AVX2 (environment DLSYNTH_NO_AVX2 turns
   them off; eng_set_simd chooses); they give the same output, bit for bit, as the SSE2
   and the scalar ones. */
eng_engine *eng_create(int32_t sample_rate, int32_t max_voices, int32_t channels,
                       int32_t interpolation, int32_t event_capacity,
                       int32_t max_instruments, int32_t max_waves);
void eng_destroy(eng_engine *e);

/* Waves: 16-bit interleaved PCM (8-bit data is converted with dls_u8_to_s16 first). The
   pool keeps the samples as int16, one buffer per channel (frames plus 8 guard frames each
   side); the interpolators convert them to float (s / 32768, exact) as they read them.
   data is copied: the caller may free it on return. Returns the wave id (>= 0) or an
   ENG_ERR_* code. Zero-length waves are accepted. */
int32_t eng_wave_create(eng_engine *e, const int16_t *data, int64_t frames, int32_t channels,
                        double sample_rate);
/* Frees a wave no live instrument uses (ENG_ERR_BUSY otherwise). */
int32_t eng_wave_destroy(eng_engine *e, int32_t wave_id);

/* Instruments: compiled regions plus their connection arrays. Loops are clamped to the
   wave, wave ids and channels validated; returns the instrument id or an ENG_ERR_* code.
   The instrument is visible to the render thread when this returns. */
int32_t eng_instrument_create(eng_engine *e, const eng_region_desc *regions, int32_t n_regions,
                              const eng_conn *conns, int32_t n_conns);
/* Frees an instrument after ENG_EV_UNLOAD_INSTRUMENT was rendered and eng_poll_finished
   reported it (ENG_ERR_BUSY before). */
int32_t eng_instrument_destroy(eng_engine *e, int32_t instrument_id);
/* The next instrument id whose unload has completed on the render thread, or -1. */
int32_t eng_poll_finished(eng_engine *e);

/* Events. eng_push returns 1 if queued, 0 if the ring was full (counted as dropped).
   eng_push_events queues up to n and returns how many were queued. */
int32_t eng_push(eng_engine *e, uint64_t time, int32_t type, int32_t channel, int32_t a, int32_t b);
int32_t eng_push_events(eng_engine *e, const eng_event *events, int32_t n);

/* MIDI (native/midi.c). A patch key packs what selects an instrument:
   drum << 21 | bank MSB << 14 | bank LSB << 7 | program (each 0..127, drum 0 or 1). */
uint32_t eng_patch_key(int32_t drum, int32_t bank_msb, int32_t bank_lsb, int32_t program);
/* The keys a select of `key` (a channel's drum flag, bank MSB/LSB and program as the messages
   gave them) tries, in order: first the select exactly as given (an instrument a bank defines
   there wins), then the GM2/XG reading of the bank numbers (MSB 121 + v: melodic variation v;
   MSB 120, 126, 127: a drum kit), then GM fallbacks (a missing variation plays bank 0 of its
   program, a missing kit the standard kit 0). out[0] = key; out holds ENG_PATCH_TRIES_MAX;
   returns how many (1..ENG_PATCH_TRIES_MAX). */
enum { ENG_PATCH_TRIES_MAX = 5 };
int32_t eng_patch_fallbacks(uint32_t key, uint32_t *out);
/* One complete MIDI message (a channel message, or a whole sysex F0 .. F7) as the engine
   event for channel group `group` at frame `time`. Returns 1 when *out holds an event,
   0 when the message has no meaning for the synth (an unknown sysex, a system real-time or
   common message), -1 when it is malformed. Safe from any thread. */
int32_t eng_midi_encode(const uint8_t *data, int32_t n, int32_t group, uint64_t time, eng_event *out);
/* Encode and queue one MIDI message; returns 1 if queued, 0 if ignored, malformed or the
   ring was full (each counted). */
int32_t eng_push_midi(eng_engine *e, uint64_t time, int32_t group, const uint8_t *data, int32_t n);
/* Queue many: message i is bytes[offsets[i] .. offsets[i] + lengths[i]) at frame times[i] for
   groups[i]. Stops when the ring is full; returns how many messages were consumed. tags
   (NULL: none) gives each channel message a tag the notes it starts carry (a file source's
   MIDI track + 1: stems by track, note labels); 0 = no tag. */
int32_t eng_push_midi_batch(eng_engine *e, const uint64_t *times, const int32_t *groups, const uint8_t *bytes,
                            const int64_t *offsets, const int32_t *lengths, const int32_t *tags, int32_t n);
/* The patches a stream of messages (in time order, as for eng_push_midi_batch) has notes
   played on, on an engine with `channels` channels from the power-on state: the distinct
   patch keys of the selects a note-on follows, written to keys (at most max_keys); returns
   how many, or -1 if more than max_keys. Used to download just what a song plays before it
   is rendered (a select no note follows plays nothing). */
int32_t eng_scan_patches(const int32_t *groups, const uint8_t *bytes, const int64_t *offsets,
                         const int32_t *lengths, int32_t n, int32_t channels, uint32_t *keys, int32_t max_keys);
/* Reports from the render thread, oldest first; returns how many were written to out. */
int32_t eng_poll_reports(eng_engine *e, eng_report *out, int32_t max);

/* Render frames of interleaved stereo float32 into out (2 * frames floats), applying every
   event due inside the block at its exact frame. */
void eng_render(eng_engine *e, float *out, int32_t frames);

/* Threads that render: the render thread plus threads - 1 workers (threads 1..64, clamped),
   persistent, started here and woken per block. A block is cut into runs (at events and
   multiples of 1024 frames); each run's active voices are split into fixed mix groups
   (eight consecutive entries of the active list), each group rendered through the run's
   control ticks into its own buses, the groups then summed in group order: the output is
   the same, bit for bit, for every thread count. Returns the count in effect (1 where
   threads cannot be started) or ENG_ERR_NOMEM. Allocates: producer thread, never while
   eng_render runs. */
int32_t eng_set_threads(eng_engine *e, int32_t threads);
int32_t eng_threads(const eng_engine *e);
/* How runs are shared out. A run (at most 1024 frames, between events, block ends and
   multiples of 1024 frames; 64 with stems on) is shared out only when its frames times its
   active voices reach min_work (default 1024; below, handing it out costs more than it
   saves; 0: every run). Each thread has its share of a run's mix groups and then helps
   with the others' (a thread the OS has not scheduled has its share run by the others;
   after a long wait for one, the render thread renders alone for a while); strict = 1
   makes each thread run exactly its own share (slower on a busy machine: for tests, which
   must see every thread work). The output is the same in every case. Producer thread,
   while no render runs. */
void eng_set_sharing(eng_engine *e, int32_t min_work, int32_t strict);

/* The kernels' SIMD variants (native/eng_kernels.c). The interpolators, the filters and the
   mix each have a scalar form, an SSE2 one and an AVX2 one on x86, and the cubic
   interpolator an AVX-512 one (the AVX-512 variant runs the AVX2 forms of the others);
   every form computes each frame with the scalar form's operations in its order (no FMA),
   so all give the same output bit for bit. */
enum { ENG_SIMD_SCALAR = 0, ENG_SIMD_SSE2 = 1, ENG_SIMD_AVX2 = 2, ENG_SIMD_AVX512 = 3 };
enum {
    ENG_KERNEL_LINEAR = 0,
    ENG_KERNEL_CUBIC = 1,
    ENG_KERNEL_SINC = 2,
    ENG_KERNEL_FILTER = 3,
    ENG_KERNEL_MIX = 4,
    ENG_KERNEL_REVERB = 5,
    ENG_KERNEL_CHORUS = 6
};
/* Bit 1 << v set: variant v (ENG_SIMD_*) can run here (this build has it, and the CPU). */
int32_t eng_simd_available(void);
/* Make e's kernels run variant simd: returns it, or ENG_ERR_ARG for one not available
   (nothing changes). Producer thread, while no render runs. */
int32_t eng_set_simd(eng_engine *e, int32_t simd);
/* The variant e is set to: at creation the best available (below AVX2 with DLSYNTH_NO_AVX2
   in the environment, below AVX-512 with DLSYNTH_NO_AVX512). */
int32_t eng_simd(const eng_engine *e);
/* The variant kernel (ENG_KERNEL_*) runs at e's setting: the setting, but the effects
   (fx_reverb_set_avx2, fx_chorus_set_avx2) run their scalar form below AVX2 (they have no
   SSE2 form), and at AVX-512 every kernel but the cubic its AVX2 form. At AVX-512 a cubic
   faster than 28/15 frames per output runs its AVX2 loop. At AVX2 a linear interpolation faster than one
   frame per output runs its SSE2 loop; every AVX2 and SSE2 kernel runs its scalar form for
   the last frames of a run (fewer than its width). ENG_ERR_ARG: no such kernel. */
int32_t eng_kernel_variant(const eng_engine *e, int32_t kernel);

/* One kernel run outside a render, at e's variant, as a playing voice runs it (for tests;
   they allocate: producer thread). 0, ENG_ERR_ARG or ENG_ERR_NOMEM.
   eng_kernel_interp: `frames` outputs of e's interpolation from the mono 16-bit samples
   data[0..n) (silence around them, as a wave's guard frames), output k at the phase
   phase + k * inc (32.32 fixed point, frames; inc 1 .. 512 frames per output); every
   phase's integer part must be in 0..n - 1.
   eng_kernel_filter: the resonant low-pass of `lanes` (1..8) voices at once, in place on
   x (lanes rows of `frames` floats): lane l's state st[4l .. 4l + 3] (x1, x2, y1, y2,
   updated), coefficients coef[3l .. 3l + 2] (b0, a1, a2) plus k * dcoef[3l .. 3l + 2] at
   frame i, k = k0[l] + i, when ramp[l] (else constant): y = b0 (x + 2 x1 + x2) - a2 y2 - a1 y1.
   eng_kernel_mix: one voice's frames (y0, or y0 and y1 for channels 2) into the buses, gain
   g0[b] + k * dg[b] at frame i, k = k0 + i, for b = left, right, reverb, chorus; out_rev or
   out_cho NULL: that send is not mixed (a two-channel voice sends y0 + y1). */
int32_t eng_kernel_interp(eng_engine *e, const int16_t *data, int32_t n, uint64_t phase, uint64_t inc, float *out,
                          int32_t frames);
int32_t eng_kernel_filter(const eng_engine *e, int32_t lanes, float *x, int32_t frames, float *st, const float *coef,
                          const float *dcoef, const float *k0, const int32_t *ramp);
int32_t eng_kernel_mix(const eng_engine *e, int32_t channels, const float *y0, const float *y1, const float *g0,
                       const float *dg, int64_t k0, float *out_l, float *out_r, float *out_rev, float *out_cho,
                       int32_t frames);

/* --- Stems and note labels (native/eng_stems.c): what each instrument played, in the
   same pass as the mix. Both are off (and cost nothing) until set, and are set by the
   producer while no render runs.

   Stems. Every voice gets a stem when it starts, by its key: the engine channel and the
   channel's patch (ENG_STEMS_BY_CHANNEL), the patch alone (BY_PROGRAM) or the tag of the
   note-on message (BY_TRACK). Stems are numbered in the order their first voice started,
   from 1; stem 0 is the effects' return (reverb plus chorus, wet). Each voice's dry output
   is mixed into its stem as well as into the mix, which is computed exactly as without
   stems (the same bytes); a stem is its voices summed in the active list's order, times
   the master gain, so the stems sum to the mix within float rounding, for every thread
   count and block size. More keys than max_stems - 1: the rest share the last stem (its
   info's overflow is 1). */
enum { ENG_STEMS_OFF = 0, ENG_STEMS_BY_CHANNEL = 1, ENG_STEMS_BY_PROGRAM = 2, ENG_STEMS_BY_TRACK = 3 };
enum { ENG_STEMS_MAX = 4096 };

typedef struct {
    int32_t channel;             /* engine channel of its first voice */
    uint32_t patch;              /* the channel's patch key (eng_patch_key) then */
    int32_t track;               /* the note-on's tag then (MIDI track + 1), 0 = none */
    int32_t overflow;            /* 1: the stem every key past max_stems shares */
    uint64_t first_frame;        /* absolute frame its first voice started at */
} eng_stem_info;

/* by = ENG_STEMS_*, max_stems 2..ENG_STEMS_MAX (effects return included). Allocates (0, or
   ENG_ERR_*); by = ENG_STEMS_OFF frees. Stems already made are forgotten. */
int32_t eng_set_stems(eng_engine *e, int32_t by, int32_t max_stems);
/* Where the next renders write the stems: stem s at out + s * 2 * frames, interleaved
   stereo like the mix, for renders of at most `frames` frames; each render writes stems
   0 .. eng_stem_count() - 1 (a stem born during it: zeros before its first voice). NULL: the
   stems are not written (nor mixed). */
void eng_set_stem_output(eng_engine *e, float *out, int32_t frames);
int32_t eng_stem_count(const eng_engine *e);
/* 0, or ENG_ERR_ARG for a stem that does not exist (stem 0, the effects, has no info). */
int32_t eng_get_stem_info(const eng_engine *e, int32_t stem, eng_stem_info *out);

/* Note labels: a ring of records the render thread writes as it plays and the producer
   drains (eng_poll_labels) between renders: one NOTE record per note-on that matched a
   region (its voices all start at its frame), one KEY_OFF per note-off and all-notes-off
   (key -1: every key of the channel), one END per voice as it ends, with why. A full ring
   drops records (counted: labels_lost). */
enum { ENG_LABEL_NOTE = 1, ENG_LABEL_KEY_OFF = 2, ENG_LABEL_END = 3 };
enum {
    ENG_END_RELEASED = 1,        /* its release finished */
    ENG_END_FINISHED = 2,        /* the sound died out (a one-shot wave's end) with the key held */
    ENG_END_STOLEN = 3,          /* its voice was taken for another note (polyphony) */
    ENG_END_KEY_GROUP = 4,       /* cut by a note of the same key group (exclusive class) */
    ENG_END_RETRIGGERED = 5,     /* cut by the same key again on a self-exclusive region */
    ENG_END_SOUND_OFF = 6,       /* all sound off, a reset, an unloaded instrument */
    ENG_END_END_OF_FILE = 7      /* still sounding when the render ended (eng_labels_finish) */
};

typedef struct {
    uint64_t frame;              /* NOTE: note-on frame (every voice starts there); KEY_OFF:
                                    the note-off's frame; END: the first frame after the
                                    voice's sound */
    uint32_t note;               /* NOTE, END: the note's serial (from 1); KEY_OFF: 0 */
    int32_t kind;                /* ENG_LABEL_* */
    int32_t channel;             /* engine channel */
    uint32_t patch;              /* NOTE: the channel's patch key */
    int32_t track;               /* NOTE: the note-on's tag (MIDI track + 1), 0 = none */
    int16_t key;                 /* NOTE, KEY_OFF: MIDI key (-1: every key) */
    int16_t velocity;            /* NOTE */
    int32_t voices;              /* NOTE: voices started (0: none free: dropped) */
    int32_t reason;              /* END: ENG_END_* */
    int32_t stem;                /* NOTE: its stem (0 without stems) */
    int32_t pad;
} eng_label;

/* capacity: records the ring holds (rounded up to a power of two); 0 frees (labels off).
   Returns 0 or ENG_ERR_*. */
int32_t eng_set_labels(eng_engine *e, int32_t capacity);
/* Records oldest first; returns how many were written to out. */
int32_t eng_poll_labels(eng_engine *e, eng_label *out, int32_t max);
/* After the last render: an END for every voice still there (END_OF_FILE at the current
   position, or its own end if it had ended in the last run); no records after it. */
void eng_labels_finish(eng_engine *e);
uint64_t eng_labels_lost(const eng_engine *e);

/* Render thread only: queue an event straight into the render thread's pending heap (the
   live wave sink's callback, between renders). Returns 0 when the heap is full. */
int32_t eng_insert_rt(eng_engine *e, const eng_event *ev);
/* Render thread only: take what the producer has queued into the pending heap now (so it
   orders before events inserted after it at the same frame). */
void eng_drain_rt(eng_engine *e);

uint64_t eng_position(const eng_engine *e);
void eng_get_stats(const eng_engine *e, eng_stats *stats);

/* Switches and mixer settings, safe from the producer thread (applied by the next render). */
void eng_set_effects(eng_engine *e, int32_t on);
void eng_set_master_gain(eng_engine *e, float gain);
void eng_set_reverb(eng_engine *e, double room_size, double damping, double width, double level);
void eng_set_chorus(eng_engine *e, int32_t voices, double level, double speed_hz, double depth_ms,
                    int32_t type);
int32_t eng_sample_rate(const eng_engine *e);
int32_t eng_max_voices(const eng_engine *e);
int32_t eng_channels(const eng_engine *e);

/* --- ws_: the live wave sink's audio callback (native/wavesink.c) ---

   The audio device's callback in C: no Python on the audio thread. MIDI inputs push stamped
   messages into a lock-free multi-producer ring; the callback maps each presentation time
   (stamp + latency in scheduled mode) to its frame through the time map the Service thread
   publishes, renders the engine into the device's buffer, clips to the limit, and records
   (frame, DAC time) observations for SyncToMaster. Times: 100 ns units of CLOCK_MONOTONIC. */
typedef struct ws_sink ws_sink;

/* PortAudio's PaStreamCallbackTimeInfo (seconds of the stream's clock). */
typedef struct {
    double input_buffer_adc_time;
    double current_time;
    double output_buffer_dac_time;
} ws_pa_time_info;

/* One stamped MIDI message, already encoded (eng_midi_encode). */
typedef struct {
    int64_t stamp;               /* arrival, 100 ns */
    int32_t type;                /* ENG_EV_* */
    int32_t group;               /* channel group, 0 = all */
    int32_t a, b;
    int32_t offset;              /* frames into the JACK cycle being rendered at which it
                                    arrived (JACK as the device: exact), or -1: map the stamp */
    int32_t pad;
} ws_midi_msg;

/* One callback as the device saw it. */
typedef struct {
    uint64_t frame;              /* engine frame at the start of the buffer */
    int64_t dac_time;            /* master time when that frame reaches the DAC, 100 ns */
    int64_t now;                 /* master time at the callback's start, 100 ns */
    int32_t frames;              /* buffer length, frames */
    uint32_t status;             /* PaStreamCallbackFlags */
    int64_t ahead;               /* the device's output latency: DAC time - current time, 100 ns */
    int32_t discontinuity;       /* 1: the stream broke before this buffer (an xrun, a skipped cycle) */
    int32_t pad;
} ws_observation;

/* One MIDI message as applied (when tracing). */
typedef struct {
    int64_t stamp;               /* arrival, 100 ns */
    uint64_t frame;              /* engine frame it was applied at */
    uint64_t block;              /* engine frame of the buffer it was drained in */
    int32_t group;
    int32_t type;                /* ENG_EV_* */
    int32_t a;                   /* ENG_EV_MIDI: status | d1 << 8 | d2 << 16 | length << 24;
                                    sysex: the event's a (eng_midi_encode) */
    int32_t b;                   /* the event's b (ENG_EV_GS_RHYTHM: 1 drums, 0 not) */
    int32_t late;                /* 1: its time had passed; applied at the buffer's start */
    int32_t pad;
} ws_trace;

typedef struct {
    uint64_t callbacks;
    uint64_t xruns;              /* underflow / overflow flags PortAudio passed in */
    uint64_t midi_in;            /* messages pushed */
    uint64_t midi_dropped;       /* the MIDI ring was full */
    uint64_t midi_applied;
    uint64_t late;               /* applied after their scheduled time */
    uint64_t clipped;            /* output samples clipped to the limit */
    uint64_t heap_full;          /* messages lost: the engine's pending heap was full */
    uint64_t frames;             /* frames rendered */
    int64_t last_callback;       /* master time at the end of the last callback, 100 ns */
    double load;                 /* callback time / buffer time, smoothed */
    double peak_load;
    uint32_t max_frames;         /* longest buffer seen, frames */
} ws_stats;

int64_t ws_clock_now(void);
ws_sink *ws_create(eng_engine *engine, int32_t midi_capacity, int32_t observation_capacity, int32_t trace_capacity);
void ws_destroy(ws_sink *s);
/* Any thread: stamp now (or with ref_time) and queue; 1 if queued, 0 if dropped or ignored. */
int32_t ws_midi_push(ws_sink *s, int32_t group, const uint8_t *data, int32_t n);
int32_t ws_midi_push_at(ws_sink *s, int64_t ref_time, int32_t group, const uint8_t *data, int32_t n);
/* The JACK process callback, JACK as the device: a message that arrived `offset` frames
   into the cycle about to be rendered (scheduled mode plays it there, plus the cycle delay:
   sample-exact, no clock model in between). */
int32_t ws_midi_push_cycle(ws_sink *s, int64_t ref_time, int32_t offset, int32_t group, const uint8_t *data,
                           int32_t n);
/* Service thread: frames added to a cycle-stamped message's offset in scheduled mode. */
void ws_set_cycle_delay(ws_sink *s, int32_t frames);
/* One message to several channel groups (a stream's routes), one stamp. */
int32_t ws_midi_push_groups(ws_sink *s, const int32_t *groups, int32_t n_groups, const uint8_t *data, int32_t n);
/* Service thread. The map: frame = frame_at_ref + (t - ref_time) * frames_per_second / 10^7. */
void ws_set_time_map(ws_sink *s, int64_t ref_time, double frame_at_ref, double frames_per_second);
void ws_set_mode(ws_sink *s, int32_t scheduled, int64_t latency_ref);
void ws_set_trace(ws_sink *s, int32_t on);
void ws_set_limit(ws_sink *s, float limit);
void ws_set_silent(ws_sink *s, int32_t silent);
int32_t ws_poll_observations(ws_sink *s, ws_observation *out, int32_t max);
int32_t ws_poll_trace(ws_sink *s, ws_trace *out, int32_t max);
void ws_get_stats(const ws_sink *s, ws_stats *stats);
void ws_reset_peak(ws_sink *s);
/* The PortAudio stream callback (PaStreamCallback); user = the ws_sink. */
int ws_callback(const void *input, void *output, unsigned long frame_count, const ws_pa_time_info *time_info,
                unsigned long status, void *user);
/* Run the callback once without a device (tests). */
int32_t ws_run_callback(ws_sink *s, float *out, int32_t frames, double current_time, double dac_time);

/* libjack's error and info output, silenced (it floods stderr when a server goes away) and
   counted instead, for the libjack at `library` if the process has loaded it (returns 1). */
int32_t ws_quiet_jack(const char *library);
uint64_t ws_jack_messages(void);

/* --- jm_: JACK MIDI input in C (native/jackmidi.c) ---

   A JACK client whose process callback stamps each MIDI event with the master time of its
   exact frame and pushes it into a ws_sink for its port's channel groups: no Python in the
   JACK graph. libjack is loaded with dlopen. Everything but the callback: Service thread. */
typedef struct jm_client jm_client;
/* The most channel groups one MIDI input feeds (jm_set_route, rm_set_route). */
enum { MIDI_IN_MAX_ROUTE = 16 };
/* NULL on failure, with a one-line reason in err. */
jm_client *jm_create(ws_sink *sink, const char *client_name, char *err, int32_t errlen);
void jm_destroy(jm_client *c);
/* A new MIDI input port of this client; returns its index, or -1. Its route is empty (its
   messages are dropped) until jm_set_route. */
int32_t jm_add_port(jm_client *c, const char *port_name);
/* The channel groups (at most MIDI_IN_MAX_ROUTE) a port's messages go to. */
int32_t jm_set_route(jm_client *c, int32_t port, const int32_t *groups, int32_t n_groups);
int32_t jm_port_name(jm_client *c, int32_t port, char *out, int32_t len);
/* How many ports are connected to a port of ours; -1 if the server is gone. */
int32_t jm_port_connections(jm_client *c, int32_t port);
/* Connect a MIDI output port (by full name) to a port of ours: 0 on success. */
int32_t jm_connect(jm_client *c, const char *source, int32_t port);
/* Every MIDI output port of the graph, newline-separated into out; returns how many, -1 if
   the server is gone. */
int32_t jm_list_sources(jm_client *c, char *out, int32_t len);
int32_t jm_client_name(jm_client *c, char *out, int32_t len);
/* 1 if the MIDI output port `source` is connected to a port of ours (0 if not, -1 if the
   server is gone). */
int32_t jm_feeds_us(jm_client *c, const char *source);
int32_t jm_is_shutdown(jm_client *c);
/* A counter that moves whenever a port is registered, unregistered, connected or
   disconnected anywhere in the graph (JACK's notifications): look at the ports again only
   when it has moved. */
uint32_t jm_graph_changes(jm_client *c);
/* This client becomes the wave sink's audio device too (ports out_0, out_1): its process
   callback reads the MIDI, then runs ws_callback for the cycle, so a message plays in the
   cycle it arrived in and the graph has one dlsynth client. 0 on success. */
int32_t jm_enable_audio(jm_client *c, ws_sink *s);
/* Silence from the next cycle on (the sink may be freed two cycles later). */
void jm_disable_audio(jm_client *c);
int32_t jm_sample_rate(jm_client *c);
/* Connect out_<channel> to an input port by full name: 0 on success. */
int32_t jm_connect_output(jm_client *c, int32_t channel, const char *dest);
/* The graph's physical playback ports, newline-separated; returns how many. */
int32_t jm_list_playback(jm_client *c, char *out, int32_t len);
/* Master time (100 ns) of the start of the JACK cycle now running, by JACK's own frame
   clock (its DLL): safe on the audio thread. 0 if the server is gone. */
int64_t jm_cycle_start(jm_client *c);
/* The wave sink takes its DAC times from this JACK client's frame clock instead of the
   callback's wake-up time (which jitters with scheduling): MIDI stamped by the same clock
   then lands on its exact frame. NULL: back to the wake-up time. */
void ws_set_frame_clock(ws_sink *s, jm_client *c);
uint64_t jm_events(jm_client *c);

/* --- rm_: MIDI input through RtMidi's C API (native/rtmidi_in.c) ---

   One RtMidiIn per input (ALSA, CoreMIDI, JACK), whose callback is C: it stamps each message
   and pushes it into a ws_sink for the input's channel groups, with no Python (python-rtmidi's
   callback takes the GIL on RtMidi's thread, which RtMidi joins on close). librtmidi is loaded
   with dlopen. Everything but the callback: Service thread. */
typedef struct rm_input rm_input;
/* 1 if librtmidi can be loaded; 0, with a one-line reason in err, if not. */
int32_t rm_available(char *err, int32_t errlen);
/* An input of MIDI API `api` ("alsa", "jack", "core") in a client named client_name: the port
   `source` (by the full name RtMidi lists), opened as our port port_name; or, with source NULL,
   a virtual port named port_name. Its route is empty (messages are dropped) until rm_set_route.
   NULL on failure, with a one-line reason in err. */
rm_input *rm_open(ws_sink *sink, const char *api, const char *client_name, const char *source, const char *port_name,
                  char *err, int32_t errlen);
/* The channel groups (at most 16) its messages go to. */
int32_t rm_set_route(rm_input *in, const int32_t *groups, int32_t n_groups);
/* Messages received so far. */
uint64_t rm_events(rm_input *in);
/* Close the port and free the input: no callback runs once this returns. */
void rm_close(rm_input *in);

/* --- pcm_: float frames to PCM integers (native/pcm.c) ---

   n floats (full scale 1.0) to 16-bit integers (bits 16, out int16_t[n]) or 24-bit ones in
   the top of int32 (bits 24, out int32_t[n]): scaled by 2^15 or 2^23, clipped to
   [-2^15, 2^15 - 1] (or 2^23), rounded to nearest, ties to even; *peak = max |in[i]|. 0 on
   success, -1 for bad arguments. */
int32_t pcm_encode(const float *in, int64_t n, int32_t bits, void *out, float *peak);

/* CDEF-END */

#ifdef __cplusplus
}
#endif

#endif /* DLSYNTH_ENGINE_H */
