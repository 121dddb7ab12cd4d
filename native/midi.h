/*
 * dlsynth MIDI semantics (internal header): what a MIDI message means before the voice
 * engine hears it. Included by the engine's files (eng_internal.h) and midi.c; the public API is in engine.h.
 *
 * One mid_channel per MIDI channel of every channel group keeps what the voice engine need
 * not know: bank select, the program, the drum flag, the RPN/NRPN selection and data
 * entry. The patch table maps a patch key (drum flag, bank MSB, bank LSB, program) to an
 * engine instrument id. All of it is owned by the render thread: it changes only through
 * events applied in time order (ENG_EV_MIDI, ENG_EV_PATCH, ...), so a render is a pure
 * function of its events.
 */
#ifndef DLSYNTH_MIDI_H
#define DLSYNTH_MIDI_H

#include "engine.h"

#include <stdatomic.h>

typedef struct eng_engine eng_engine;

typedef struct {
    uint8_t bank_msb, bank_lsb, program;
    uint8_t drum;           /* drums by channel: channel 10, or a GS "use for rhythm part" */
    uint8_t default_drum;   /* channel 10 of its group */
    uint8_t rpn_msb, rpn_lsb;
    uint8_t nrpn;           /* an NRPN is selected: data entry is ignored */
    uint8_t data_msb, data_lsb;
    uint8_t missing_said;   /* a missing-instrument report went out since the last select */
    uint8_t fallback_due;   /* the last select fell back: reported at its first note */
    uint32_t patch;         /* patch key of the last select (ENG_PATCH_KEY) */
    int32_t instrument;     /* engine instrument id of the last select, -1 for none */
    uint32_t fallback_used; /* patch key playing instead, while fallback_due */
} mid_channel;

typedef struct {
    uint32_t key;           /* patch key + 1 (0 = empty slot) */
    int32_t instrument;     /* engine id, -1 when removed */
} mid_patch_slot;

typedef struct mid_state {
    int32_t n_channels;
    mid_channel *chan;
    mid_patch_slot *patches;
    uint32_t patch_mask;
    /* reports (render thread -> producer): SPSC ring */
    eng_report *rep;
    uint32_t rep_mask;
    _Alignas(64) atomic_uint rep_head; /* render thread */
    _Alignas(64) atomic_uint rep_tail; /* producer */
    /* counters (render thread writes, anyone reads) */
    atomic_ullong st_midi, st_malformed, st_dropped_group, st_reports_lost;
} mid_state;

mid_state *mid_create(int32_t n_channels);
void mid_destroy(mid_state *m);
/* Render thread: apply one MIDI-level event (ENG_EV_MIDI, ENG_EV_SYSEX_RESET, ENG_EV_GS_RHYTHM,
   ENG_EV_PATCH, ENG_EV_RESELECT) at frame now. */
void mid_apply(eng_engine *e, mid_state *m, const eng_event *ev, uint64_t now);

/* eng_channels.c: apply one voice-engine event at frame now (render thread). */
void eng_apply_now(eng_engine *e, const eng_event *ev, uint64_t now);

#endif /* DLSYNTH_MIDI_H */
