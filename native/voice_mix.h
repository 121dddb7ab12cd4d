/*
 * dlsynth voice engine: the mix kernels' one source, included by voice_render.c once per
 * SIMD variant (not a header of declarations; no include guard on purpose). The includer
 * defines MIX_FN(name) (the variant's function names) and may define MIX_ATTR (function
 * attributes: the variant's target) and MIX_LOOP (a loop hint, before each loop); all three
 * are undefined at the end.
 *
 * out_a += y_a * gain_a(i), out_b += y_b * gain_b(i), gain(i) = g0 + (k0 + i) * dg. A
 * constant gain is the same expression with dg = 0 (g0 + k * 0 == g0 exactly), so the two
 * paths give identical results.
 */
#ifndef MIX_ATTR
#define MIX_ATTR
#endif
#ifndef MIX_LOOP
#define MIX_LOOP
#endif

MIX_ATTR static void MIX_FN(mix_pair)(const float *restrict ya, const float *restrict yb, float *restrict oa,
                                      float *restrict ob, int n, float ga, float dga, float gb, float dgb, float k0)
{
    if (dga == 0.0f && dgb == 0.0f) {
        MIX_LOOP
        for (int i = 0; i < n; i++) {
            oa[i] += ya[i] * ga;
            ob[i] += yb[i] * gb;
        }
    } else {
        MIX_LOOP
        for (int i = 0; i < n; i++) {
            float k = k0 + (float)i;
            oa[i] += ya[i] * (ga + k * dga);
            ob[i] += yb[i] * (gb + k * dgb);
        }
    }
}

/* the sends of a two-channel voice take the channels' mean (the 0.5 is in the gains) */
MIX_ATTR static void MIX_FN(mix_pair_sum)(const float *restrict y0, const float *restrict y1, float *restrict oa,
                                          float *restrict ob, int n, float ga, float dga, float gb, float dgb,
                                          float k0)
{
    if (dga == 0.0f && dgb == 0.0f) {
        MIX_LOOP
        for (int i = 0; i < n; i++) {
            float y = y0[i] + y1[i];
            oa[i] += y * ga;
            ob[i] += y * gb;
        }
    } else {
        MIX_LOOP
        for (int i = 0; i < n; i++) {
            float y = y0[i] + y1[i];
            float k = k0 + (float)i;
            oa[i] += y * (ga + k * dga);
            ob[i] += y * (gb + k * dgb);
        }
    }
}

/* One bus of the above: out += y * gain(i) (y = y0, or y0 + y1 for a two-channel voice's
   send), the same operations as that bus's in mix_pair / mix_pair_sum. */
MIX_ATTR static void MIX_FN(mix_one)(const float *restrict y0, const float *restrict y1, float *restrict o, int n,
                                     float g, float dg, float k0)
{
    if (y1) {
        if (dg == 0.0f) {
            MIX_LOOP
            for (int i = 0; i < n; i++)
                o[i] += (y0[i] + y1[i]) * g;
        } else {
            MIX_LOOP
            for (int i = 0; i < n; i++)
                o[i] += (y0[i] + y1[i]) * (g + (k0 + (float)i) * dg);
        }
    } else {
        if (dg == 0.0f) {
            MIX_LOOP
            for (int i = 0; i < n; i++)
                o[i] += y0[i] * g;
        } else {
            MIX_LOOP
            for (int i = 0; i < n; i++)
                o[i] += y0[i] * (g + (k0 + (float)i) * dg);
        }
    }
}

#undef MIX_FN
#undef MIX_ATTR
#undef MIX_LOOP
