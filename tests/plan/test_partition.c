/* Tests of the partitioning model: scheme parsing and formatting, validity rules, and the
 * closed-form per-level volumes and memory against numbers worked out by hand (the derivation is in
 * docs/partitioning.md; each expected figure below is written as units of that derivation). */
#include <stdint.h>
#include "harness.h"

h_counts h_total;

static st_partition parsed(const char *text)
{
    st_partition p = {ST_SHARD_COUNT, ST_SHARD_COUNT, ST_SHARD_COUNT, ST_SHARD_COUNT, 0, 0, 0, 0};
    CHECK_ST(st_partition_parse(text, &p), ST_OK);
    return p;
}

static void test_names(void)
{
    CHECK(st_partition_scheme_count() == 8, "eight named schemes");
    const char *want[] = {"ddp", "zero1", "zero2", "zero3", "zero3+hpz", "zero++", "frontier3", "frontier3q"};
    for (int i = 0; i < 8; i++) {
        const char *name = NULL;
        st_partition p;
        CHECK_ST(st_partition_scheme(i, &name, &p), ST_OK);
        CHECK(name && strcmp(name, want[i]) == 0, "scheme %d is %s", i, want[i]);
        CHECK_ST(st_partition_validate(&p), ST_OK);
        char buf[128];
        st_partition_format(&p, buf, sizeof buf);
        st_partition q = parsed(buf); /* the key=value form parses back to the same scheme */
        CHECK(st_partition_name(&q) && strcmp(st_partition_name(&q), want[i]) == 0, "%s round-trips via '%s'",
              want[i], buf);
    }
    const char *name;
    st_partition p;
    CHECK_ST(st_partition_scheme(8, &name, &p), ST_ERR_INVALID_ARG);

    p = parsed("frontier3");
    CHECK(p.params == ST_SHARD_GCD && p.grads == ST_SHARD_NODE && p.optim == ST_SHARD_WORLD &&
          p.secondary == ST_SHARD_NONE, "frontier3 = params=gcd,grads=node,optim=world");
    p = parsed("zero3+hpz");
    CHECK(p.params == ST_SHARD_WORLD && p.secondary == ST_SHARD_NODE && !p.qw && !p.qg,
          "zero3+hpz: a node secondary copy, exact");
    p = parsed("zero++");
    CHECK(p.params == ST_SHARD_WORLD && p.grads == ST_SHARD_WORLD && p.optim == ST_SHARD_WORLD &&
          p.secondary == ST_SHARD_NODE && p.qw == 8 && p.qg == 4 && st_partition_qw_block(&p) == 4096 &&
          st_partition_qg_block(&p, 768) == 768 && st_partition_qg_block(&p, 0) == 4096 &&
          st_partition_qg_block(&p, 63) == 64,
          "zero++ is ZeRO++ as published: hpZ + qwZ int8 (blocks of 4096) + qgZ int4 (blocks of a row)");
    p = parsed("frontier3q");
    CHECK(p.params == ST_SHARD_GCD && p.grads == ST_SHARD_NODE && p.optim == ST_SHARD_WORLD && p.qw == 8 && p.qg == 4,
          "frontier3q = frontier3 + qw=int8 + qg=int4");
    p = parsed("zero1");
    CHECK(p.params == ST_SHARD_NONE && p.grads == ST_SHARD_NONE && p.optim == ST_SHARD_WORLD, "zero1");
}

static void test_key_value(void)
{
    st_partition p = parsed("params=gcd,grads=node,optim=world");
    CHECK(st_partition_name(&p) && strcmp(st_partition_name(&p), "frontier3") == 0, "key=value names frontier3");
    p = parsed("optim=world,grads=world,params=world,secondary=node");
    CHECK(st_partition_name(&p) && strcmp(st_partition_name(&p), "zero3+hpz") == 0, "any key order");
    p = parsed("optim=node");
    CHECK(p.params == ST_SHARD_NONE && p.grads == ST_SHARD_NONE && p.optim == ST_SHARD_NODE &&
          st_partition_name(&p) == NULL, "missing keys are replicated; not a named scheme");
    p = parsed("params=none,grads=replicated,optim=gcd");
    CHECK(p.optim == ST_SHARD_GCD && p.grads == ST_SHARD_NONE, "none and replicated both mean replicated");
    p = parsed("params=node,grads=world,optim=world,secondary=gcd");
    char buf[128];
    int n = st_partition_format(&p, buf, sizeof buf);
    CHECK(strcmp(buf, "params=node,grads=world,optim=world,secondary=gcd") == 0 && n == (int)strlen(buf),
          "format '%s' (%d)", buf, n);
    char small[10];
    n = st_partition_format(&p, small, sizeof small);
    CHECK(n == (int)strlen(buf) && strlen(small) == 9, "format truncates like snprintf (%d, '%s')", n, small);
}

/* Quantization keys: a name with overrides, the pure key=value form, round trips, defaults. */
static void test_quant_keys(void)
{
    st_partition p = parsed("zero3,qw=int8,qg=int4");
    CHECK(p.params == ST_SHARD_WORLD && p.secondary == ST_SHARD_NONE && p.qw == 8 && p.qg == 4 && p.qwblock == 0 &&
          p.qgblock == 0 && st_partition_name(&p) == NULL, "zero3 with overrides: quantized, no name");
    char buf[160];
    st_partition_format(&p, buf, sizeof buf);
    CHECK(strcmp(buf, "params=world,grads=world,optim=world,qw=int8,qg=int4") == 0, "format '%s'", buf);
    st_partition q = parsed(buf);
    CHECK(q.qw == 8 && q.qg == 4 && q.params == ST_SHARD_WORLD, "round trip");
    p = parsed("params=world,grads=world,optim=world,secondary=node,qw=int8,qg=int4");
    CHECK(st_partition_name(&p) && strcmp(st_partition_name(&p), "zero++") == 0, "key=value form names zero++");
    p = parsed("zero++,qwblock=4096");
    CHECK(p.qwblock == 0 && st_partition_name(&p) && strcmp(st_partition_name(&p), "zero++") == 0,
          "the default weight block is the default (stored as 0)");
    p = parsed("zero++,qblock=4096");
    st_partition_format(&p, buf, sizeof buf);
    CHECK(p.qwblock == 0 && p.qgblock == 4096 && st_partition_name(&p) == NULL &&
          strstr(buf, ",qgblock=4096") && !strstr(buf, "qwblock"),
          "qblock=4096: gradient blocks of 4096 instead of a row, not zero++ ('%s')", buf);
    p = parsed("zero++,qblock=256,qg=int8");
    st_partition_format(&p, buf, sizeof buf);
    CHECK(strcmp(buf, "params=world,grads=world,optim=world,secondary=node,qw=int8,qg=int8,qblock=256") == 0 &&
          st_partition_qw_block(&p) == 256 && st_partition_qg_block(&p, 768) == 256 &&
          st_partition_name(&p) == NULL, "format '%s'", buf);
    q = parsed(buf);
    CHECK(q.qwblock == 256 && q.qgblock == 256 && q.qg == 8, "qblock round trips");
    p = parsed("zero++,qwblock=1024,qgblock=128");
    st_partition_format(&p, buf, sizeof buf);
    CHECK(strstr(buf, ",qwblock=1024,qgblock=128") && st_partition_qw_block(&p) == 1024 &&
          st_partition_qg_block(&p, 768) == 128, "separate blocks: '%s'", buf);
    q = parsed(buf);
    CHECK(q.qwblock == 1024 && q.qgblock == 128, "separate blocks round trip");
    p = parsed("zero++,qw=none,qg=none");
    CHECK(st_partition_name(&p) && strcmp(st_partition_name(&p), "zero3+hpz") == 0, "zero++ without quantization");
    p = parsed("zero2,qg=int8");
    CHECK(p.qg == 8 && p.qw == 0, "qg on zero2 (sharded gradients)");
    p = parsed("frontier3,qw=int8,qg=int4,qblock=64");
    CHECK(p.qwblock == 64 && p.qgblock == 64 && p.params == ST_SHARD_GCD, "frontier3 with a block");
}

static void expect_parse_error(const char *text, const char *needle)
{
    st_partition p = {ST_SHARD_COUNT, ST_SHARD_COUNT, ST_SHARD_COUNT, ST_SHARD_COUNT, 0, 0, 0, 0};
    CHECK_ST(st_partition_parse(text, &p), ST_ERR_INVALID_ARG);
    CHECK(h_msg_has(needle), "'%s': message '%s' mentions '%s'", text, st_last_error(), needle);
    CHECK(p.params == ST_SHARD_COUNT, "'%s': output untouched on error", text);
}

static void test_parse_errors(void)
{
    expect_parse_error("zero4", "neither a scheme name");
    expect_parse_error("", "empty item");
    expect_parse_error("params=gcd,,optim=world", "empty item");
    expect_parse_error("params=gcd,grads=node,optim=world,", "empty item");
    expect_parse_error("param=gcd", "unknown key 'param'");
    expect_parse_error("params=rack", "params=rack");
    expect_parse_error("params=", "value must be");
    expect_parse_error("optim=world,optim=node", "given twice");
    expect_parse_error("grads=world,optim=node", "grads=world is wider than optim=node");
    expect_parse_error("params=node,grads=gcd,optim=world", "params=node is wider than grads=gcd");
    expect_parse_error("optim=world,secondary=node", "secondary=node must be narrower than params=replicated");
    expect_parse_error("params=node,grads=node,optim=node,secondary=node", "must be narrower");
    expect_parse_error("zero1,qw=int8", "qw=int8 needs sharded params");
    expect_parse_error("ddp,qg=int4", "qg=int4 needs sharded grads");
    expect_parse_error("zero1,qg=int8", "qg=int8 needs sharded grads");
    expect_parse_error("zero3,qw=int4", "qw=int4: value must be none or int8");
    expect_parse_error("zero3,qg=int2", "value must be none, int8 or int4");
    expect_parse_error("zero3,qg=int4,qblock=7", "must be even");
    expect_parse_error("zero3,qw=int8,qblock=0", "qblock=0: value must be");
    expect_parse_error("zero3,qw=int8,qblock=-4", "qblock=-4");
    expect_parse_error("zero3,qg=int4,qgblock=9", "must be even");
    expect_parse_error("zero3,qg=int4,qblock=8,qgblock=16", "qblock sets both");
    expect_parse_error("zero3,qg=int4,qwblock=8,qblock=16", "qblock sets both");
    expect_parse_error("zero3,qw=int8,qw=none", "given twice");
    expect_parse_error("zero3,zero2", "neither a scheme name");
    CHECK_ST(st_partition_parse(NULL, NULL), ST_ERR_INVALID_ARG);
    st_partition bad = {ST_SHARD_NONE, ST_SHARD_NONE, (st_shard)7, ST_SHARD_NONE, 0, 0, 0, 0};
    CHECK_ST(st_partition_validate(&bad), ST_ERR_INVALID_ARG);
}

/* Expected bytes per optimizer step at GCD, GPU, NODE; every level sends what it receives. */
static void expect_step(const char *scheme, const char *shape_text, uint64_t P, int bp, int bg, int A,
                        uint64_t gcd, uint64_t gpu, uint64_t node)
{
    st_topo_shape shape;
    CHECK_ST(st_topo_parse_shape(shape_text, &shape), ST_OK);
    st_partition p = parsed(scheme);
    st_partition_model m = {P, bp, bg, 12, A, 0, 0, NULL};
    st_partition_traffic t;
    CHECK_ST(st_partition_traffic_get(&p, &shape, &m, &t), ST_OK);
    uint64_t want[3] = {gcd, gpu, node};
    for (int l = 0; l < 3; l++) {
        CHECK(t.step[l].sent == want[l], "%s on %s, P=%llu A=%d: level %d sends %llu, expected %llu", scheme,
              shape_text, (unsigned long long)P, A, l, (unsigned long long)t.step[l].sent,
              (unsigned long long)want[l]);
        CHECK(t.step[l].received == t.step[l].sent, "%s level %d: received == sent", scheme, l);
        CHECK(t.step[l].sent == (uint64_t)A * t.micro_batch[l].sent + t.once[l].sent, "%s: step = A*mb + once",
              scheme);
    }
}

/* 2x2x1, P = 10 -> padded 12 (N = 4). bp = 2, bg = 4. Units (elements): GPU u1 = (2-1)*12/2 = 6,
 * NODE u2 = (2-1)*12/4 = 3; the GCD level has one rank and moves nothing. */
static void test_volumes_2x2x1(void)
{
    /* ddp: all-reduce = RS GPU (6g) + AR NODE (2*3g) + AG GPU (6g) */
    expect_step("ddp", "2x2x1", 10, 2, 4, 1, 0, 2 * 6 * 4, 2 * 3 * 4);
    expect_step("ddp", "2x2x1", 10, 2, 4, 2, 0, 2 * 6 * 4, 2 * 3 * 4); /* accumulation is local */
    /* zero1: RS GPU, NODE of grads, AG NODE, GPU of params, once per step */
    expect_step("zero1", "2x2x1", 10, 2, 4, 2, 0, 6 * 4 + 6 * 2, 3 * 4 + 3 * 2);
    /* zero2: the RS per micro-batch */
    expect_step("zero2", "2x2x1", 10, 2, 4, 2, 0, 2 * 6 * 4 + 6 * 2, 2 * 3 * 4 + 3 * 2);
    /* zero3: per micro-batch AG (fwd) + AG (bwd) of params, RS of grads */
    expect_step("zero3", "2x2x1", 10, 2, 4, 2, 0, 2 * (2 * 6 * 2 + 6 * 4), 2 * (2 * 3 * 2 + 3 * 4));
    /* zero3+hpz: backward gathers within the node (GPU level only) */
    expect_step("zero3+hpz", "2x2x1", 10, 2, 4, 2, 0, 2 * (2 * 6 * 2 + 6 * 4), 2 * (3 * 2 + 3 * 4));
    /* frontier3 with d = 1: RS GPU per micro-batch; RS NODE, AG NODE, AG GPU once */
    expect_step("frontier3", "2x2x1", 10, 2, 4, 2, 0, 2 * 6 * 4 + 6 * 2, 3 * 4 + 3 * 2);
}

/* 2x2x2, P = 13 -> padded 16 (N = 8). bp = 2, bg = 4, A = 3. Units: GCD u0 = 1*16/2 = 8,
 * GPU u1 = 1*16/4 = 4, NODE u2 = 1*16/8 = 2. */
static void test_volumes_2x2x2(void)
{
    expect_step("ddp", "2x2x2", 13, 2, 4, 3, 2 * 8 * 4, 2 * 4 * 4, 2 * 2 * 4);
    expect_step("zero1", "2x2x2", 13, 2, 4, 3, 8 * 4 + 8 * 2, 4 * 4 + 4 * 2, 2 * 4 + 2 * 2);
    expect_step("zero2", "2x2x2", 13, 2, 4, 3, 3 * 8 * 4 + 8 * 2, 3 * 4 * 4 + 4 * 2, 3 * 2 * 4 + 2 * 2);
    expect_step("zero3", "2x2x2", 13, 2, 4, 3, 3 * (2 * 8 * 2 + 8 * 4), 3 * (2 * 4 * 2 + 4 * 4),
                3 * (2 * 2 * 2 + 2 * 4));
    expect_step("zero3+hpz", "2x2x2", 13, 2, 4, 3, 3 * (2 * 8 * 2 + 8 * 4), 3 * (2 * 4 * 2 + 4 * 4),
                3 * (2 * 2 + 2 * 4));
    /* frontier3: per micro-batch AG GCD twice (params), RS GCD + GPU (grads); once: RS NODE (grads),
     * AG NODE + GPU (params from the world shard back to the GCD-pair shard). */
    expect_step("frontier3", "2x2x2", 13, 2, 4, 3, 3 * (2 * 8 * 2 + 8 * 4), 3 * 4 * 4 + 4 * 2, 2 * 4 + 2 * 2);
    /* optimizer sharded over the GCD pair: the pair's shard is all-reduced over GPU and NODE
     * (RS GPU, AR NODE, AG GPU) once per step */
    expect_step("params=gcd,grads=gcd,optim=gcd", "2x2x2", 13, 2, 4, 3, 3 * (2 * 8 * 2 + 8 * 4),
                2 * 4 * 4, 2 * 2 * 4);
    /* optimizer over the node, gradients replicated: RS GCD, GPU; AR NODE; AG GPU, GCD of params */
    expect_step("optim=node", "2x2x2", 13, 2, 4, 3, 8 * 4 + 8 * 2, 4 * 4 + 4 * 2, 2 * 2 * 4);
}

/* Quantized schemes on 2x2x2, P = 13 -> Ψ = 16, f32, A = 3, blocks of 4 elements. qwZ (params
 * == optim): the payload (1 B per element) of the world shards (2 elements) forwarded per level,
 * NODE 1 x 1 x 2, GPU 1 x 2 x 2, GCD 1 x 4 x 2, for each gather from the shard; their scales
 * (4 B per shard) the same way once per step: 4, 8, 16. qgZ int4: per level one chunk of Ψ /
 * below[l+1] elements to the one peer, payload + 4 per block: GCD 8 -> 4 + 8, GPU 4 -> 2 + 4,
 * NODE 2 -> 1 + 4. */
static void test_volumes_quantized(void)
{
    /* zero++ (hpZ): forward quantized, backward exact within the node (8 x 4, 4 x 4) */
    expect_step("zero++,qblock=4", "2x2x2", 13, 4, 4, 3, 3 * (8 + 32 + 12) + 16, 3 * (4 + 16 + 6) + 8,
                3 * (2 + 0 + 5) + 4);
    /* no secondary copy: both gathers quantized */
    expect_step("zero3,qw=int8,qg=int4,qblock=4", "2x2x2", 13, 4, 4, 3, 3 * (8 + 8 + 12) + 16,
                3 * (4 + 4 + 6) + 8, 3 * (2 + 2 + 5) + 4);
    /* frontier3q: GCD gathers exact (2 x 8 x 4); grads quantized within the node per micro-batch and
     * across nodes once; the step's gather of world shards (2 elements + 1 scale = 6 B) to the
     * GCD-pair shard quantized: NODE 1 x 1 x 6, GPU 1 x 2 x 6 */
    expect_step("frontier3q,qblock=4", "2x2x2", 13, 4, 4, 3, 3 * (64 + 12), 3 * 6 + 12, 5 + 6);
    /* int8 gradients: payload 1 B per element */
    expect_step("zero2,qg=int8,qblock=4", "2x2x2", 13, 4, 4, 1, (8 + 8) + 8 * 4, (4 + 4) + 4 * 4, (2 + 4) + 2 * 4);

    /* Full ZeRO++ against ZeRO-3 across nodes, gpt2-124m's P on 2x2x2 with the default block:
     * f32 ZeRO-3 moves 3 x 4 B per element of a_NODE, ZeRO++ 1 + 0.5 B plus scales (weights in
     * blocks of 4096, gradients in rows of 768). */
    st_topo_shape shape = {2, 2, 2};
    st_partition_model m = {124439808, 4, 4, 8, 1, 768, 0, NULL};
    st_partition z3 = parsed("zero3"), zpp = parsed("zero++"), f3q = parsed("frontier3q");
    st_partition_traffic t3, tpp, tf;
    CHECK_ST(st_partition_traffic_get(&z3, &shape, &m, &t3), ST_OK);
    CHECK_ST(st_partition_traffic_get(&zpp, &shape, &m, &tpp), ST_OK);
    CHECK_ST(st_partition_traffic_get(&f3q, &shape, &m, &tf), ST_OK);
    const uint64_t aN = 124439808 / 8; /* (n-1) Ψ / N */
    CHECK(t3.step[ST_LEVEL_NODE].sent == 12 * aN, "zero3 NODE %llu", (unsigned long long)t3.step[2].sent);
    /* int8 payload aN, int4 payload aN/2 and aN/768 scales, the shards' aN/4096 scales once */
    uint64_t wblocks = (aN + 4095) / 4096, gblocks = (aN + 767) / 768;
    CHECK(tpp.step[ST_LEVEL_NODE].sent == aN + aN / 2 + 4 * wblocks + 4 * gblocks, "zero++ NODE %llu",
          (unsigned long long)tpp.step[2].sent);
    double r = (double)tpp.step[ST_LEVEL_NODE].sent / (double)t3.step[ST_LEVEL_NODE].sent;
    CHECK(r > 0.125 && r < 0.1262, "zero++ / zero3 across nodes = %.5f (f32: 1.5/12 plus scales)", r);
    CHECK(tf.step[ST_LEVEL_NODE].sent < tpp.step[ST_LEVEL_NODE].sent * 1.01, "frontier3q NODE %llu <= zero++'s",
          (unsigned long long)tf.step[2].sent);
    /* memory: frontier3q keeps an exact f32 master of the optim shard */
    st_partition_memory mf, m3;
    st_partition f3 = parsed("frontier3");
    CHECK_ST(st_partition_memory_get(&f3q, &shape, &m, &mf), ST_OK);
    CHECK_ST(st_partition_memory_get(&f3, &shape, &m, &m3), ST_OK);
    CHECK(mf.optim == m3.optim + m3.optim / 2, "frontier3q optim %llu = frontier3's x 1.5 (m, v and master)",
          (unsigned long long)mf.optim);
}

/* 48x4x2 = 384 ranks. The 20b model's P = 20,256,221,184 divides by 384; P = 1,000,000,007 pads to
 * 2,604,167 * 384 = 1,000,000,128. Units for the latter: u0 = 500,000,064, u1 = 3*Ψ/8 = 375,000,048,
 * u2 = 47*2,604,167 = 122,395,849. bf16 throughout, A = 4. */
static void test_volumes_48x4x2(void)
{
    const uint64_t u0 = 500000064, u1 = 375000048, u2 = 122395849;
    expect_step("ddp", "48x4x2", 1000000007, 2, 2, 4, 2 * u0 * 2, 2 * u1 * 2, 2 * u2 * 2);
    expect_step("zero3", "48x4x2", 1000000007, 2, 2, 4, 4 * 3 * u0 * 2, 4 * 3 * u1 * 2, 4 * 3 * u2 * 2);
    expect_step("zero3+hpz", "48x4x2", 1000000007, 2, 2, 4, 4 * 3 * u0 * 2, 4 * 3 * u1 * 2, 4 * 2 * u2 * 2);
    expect_step("frontier3", "48x4x2", 1000000007, 2, 2, 4, 4 * 3 * u0 * 2, 4 * u1 * 2 + u1 * 2, 2 * u2 * 2);
    CHECK(4 * 3 * u0 * 2 == 12000001536ULL && 5 * u1 * 2 == 3750000480ULL && 2 * u2 * 2 == 489583396ULL,
          "the frontier3 figures quoted in docs/partitioning.md");
    /* 20b: Ψ = 20,256,221,184, u2 = 47 * 52,750,576 = 2,479,277,072 elements. */
    expect_step("frontier3", "48x4x2", 20256221184ULL, 2, 2, 1, 3 * 10128110592ULL * 2,
                2 * 7596082944ULL * 2, 2 * 2479277072ULL * 2);

    st_topo_shape shape = {48, 4, 2};
    st_partition p = parsed("frontier3");
    st_partition_model m = {1000000007, 2, 2, 12, 4, 0, 0, NULL};
    st_partition_traffic t;
    CHECK_ST(st_partition_traffic_get(&p, &shape, &m, &t), ST_OK);
    CHECK(t.padded == 1000000128ULL, "padded %llu", (unsigned long long)t.padded);
    /* The inter-node traffic of frontier3 happens once per step only. */
    CHECK(t.micro_batch[ST_LEVEL_NODE].sent == 0 && t.once[ST_LEVEL_NODE].sent == 2 * u2 * 2,
          "frontier3 crosses nodes once per step");
    int phases_at_node = 0;
    for (int i = 0; i < t.n_phases; i++)
        if (t.phases[i].level == ST_LEVEL_NODE) {
            phases_at_node++;
            CHECK(t.phases[i].when == ST_PHASE_STEP && t.phases[i].messages == 47, "node phase: once, 47 messages");
        }
    CHECK(phases_at_node == 2, "frontier3: RS of grads and AG of params at NODE (%d)", phases_at_node);
}

/* docs/partitioning.md section 4's general formula, evaluated independently, for every valid
 * scheme (all 4^4 combinations, the invalid ones must be refused) on 3x2x2 with uneven P. */
static void test_general_formula(void)
{
    st_topo_shape shape = {3, 2, 2};
    const uint64_t P = 1001, psi = 1008; /* ceil(1001/12)*12 */
    const uint64_t a[3] = {1 * psi / 2, 1 * psi / 4, 2 * psi / 12};
    const uint64_t bp = 2, bg = 4, A = 5;
    int valid = 0;
    for (int i = 0; i < 256; i++) {
        st_partition p = {(st_shard)(i & 3), (st_shard)(i >> 2 & 3), (st_shard)(i >> 4 & 3), (st_shard)(i >> 6 & 3), 0, 0, 0, 0};
        int ok = p.params <= p.grads && p.grads <= p.optim &&
                 (p.secondary == ST_SHARD_NONE || p.secondary < p.params);
        st_partition_model m = {P, (int)bp, (int)bg, 12, (int)A, 0, 0, NULL};
        st_partition_traffic t;
        st_status s = st_partition_traffic_get(&p, &shape, &m, &t);
        CHECK(ok ? s == ST_OK : s == ST_ERR_INVALID_ARG, "scheme %d: valid %d, status %d", i, ok, (int)s);
        if (!ok || s != ST_OK)
            continue;
        valid++;
        int bwd = p.secondary != ST_SHARD_NONE ? (int)p.secondary : (int)p.params;
        for (int l = 0; l < 3; l++) {
            uint64_t per_mb = (l < (int)p.params) * bp + (l < bwd) * bp + (l < (int)p.grads) * bg;
            uint64_t once = ((int)p.grads <= l && l < (int)p.optim) * bg + (l >= (int)p.optim) * 2 * bg +
                            ((int)p.params <= l && l < (int)p.optim) * bp;
            uint64_t want = a[l] * (A * per_mb + once);
            CHECK(t.step[l].sent == want, "scheme %d level %d: %llu, formula %llu", i, l,
                  (unsigned long long)t.step[l].sent, (unsigned long long)want);
        }
    }
    CHECK(valid == 25, "25 valid schemes (%d)", valid);
}

static void expect_memory(const char *scheme, const char *shape_text, uint64_t P, uint64_t params,
                          uint64_t grads, uint64_t optim, uint64_t secondary)
{
    st_topo_shape shape;
    CHECK_ST(st_topo_parse_shape(shape_text, &shape), ST_OK);
    st_partition p = parsed(scheme);
    st_partition_model m = {P, 2, 4, 12, 1, 0, 0, NULL};
    st_partition_memory mem;
    CHECK_ST(st_partition_memory_get(&p, &shape, &m, &mem), ST_OK);
    CHECK(mem.params == params && mem.grads == grads && mem.optim == optim && mem.secondary == secondary &&
          mem.total == params + grads + optim + secondary,
          "%s on %s: memory %llu %llu %llu %llu, expected %llu %llu %llu %llu", scheme, shape_text,
          (unsigned long long)mem.params, (unsigned long long)mem.grads, (unsigned long long)mem.optim,
          (unsigned long long)mem.secondary, (unsigned long long)params, (unsigned long long)grads,
          (unsigned long long)optim, (unsigned long long)secondary);
}

/* Padded elements / ranks of the scope * bytes (params 2, grads 4, optim 12). */
static void test_memory(void)
{
    expect_memory("ddp", "2x2x1", 10, 12 * 2, 12 * 4, 12 * 12, 0);
    expect_memory("zero1", "2x2x1", 10, 12 * 2, 12 * 4, 3 * 12, 0);
    expect_memory("zero2", "2x2x1", 10, 12 * 2, 3 * 4, 3 * 12, 0);
    expect_memory("zero3", "2x2x1", 10, 3 * 2, 3 * 4, 3 * 12, 0);
    expect_memory("zero++", "2x2x1", 10, 3 * 2, 3 * 4, 3 * 12, 6 * 2);
    expect_memory("frontier3", "2x2x1", 10, 12 * 2, 6 * 4, 3 * 12, 0);
    expect_memory("ddp", "2x2x2", 13, 16 * 2, 16 * 4, 16 * 12, 0);
    expect_memory("zero3", "2x2x2", 13, 2 * 2, 2 * 4, 2 * 12, 0);
    expect_memory("zero++", "2x2x2", 13, 2 * 2, 2 * 4, 2 * 12, 4 * 2);
    expect_memory("frontier3", "2x2x2", 13, 8 * 2, 4 * 4, 2 * 12, 0);
    expect_memory("frontier3", "48x4x2", 1000000007, 500000064ULL * 2, 125000016ULL * 4, 2604167ULL * 12, 0);
    CHECK(st_partition_optim_bytes(2) == 12 && st_partition_optim_bytes(4) == 8,
          "AdamW: m, v (+ f32 master for 16-bit params)");
}

static void test_bad_inputs(void)
{
    st_topo_shape shape = {2, 2, 2};
    st_partition p = parsed("zero3");
    st_partition_model m = {0, 2, 2, 12, 1, 0, 0, NULL};
    st_partition_traffic t;
    st_partition_memory mem;
    CHECK_ST(st_partition_traffic_get(&p, &shape, &m, &t), ST_ERR_INVALID_ARG);
    m.params = 100;
    m.micro_batches = 0;
    CHECK_ST(st_partition_traffic_get(&p, &shape, &m, &t), ST_ERR_INVALID_ARG);
    m.micro_batches = 1;
    st_topo_shape zero = {0, 2, 2};
    CHECK_ST(st_partition_memory_get(&p, &zero, &m, &mem), ST_ERR_INVALID_ARG);
    m.params = UINT64_MAX / 100;
    CHECK_ST(st_partition_memory_get(&p, &shape, &m, &mem), ST_ERR_INVALID_ARG);
    m.params = 1ULL << 50;
    m.micro_batches = 1 << 20;
    CHECK_ST(st_partition_traffic_get(&p, &shape, &m, &t), ST_ERR_INVALID_ARG);
    CHECK(h_msg_has("overflow"), "overflow named: %s", st_last_error());
    CHECK(st_shard_ranks(ST_SHARD_NODE, &shape) == 4 && st_shard_ranks(ST_SHARD_WORLD, &shape) == 8 &&
          st_shard_ranks(ST_SHARD_NONE, &shape) == 1 && st_shard_ranks(ST_SHARD_COUNT, &shape) == 0,
          "ranks per scope");
}

int main(void)
{
    test_names();
    test_key_value();
    test_parse_errors();
    test_quant_keys();
    test_volumes_2x2x1();
    test_volumes_2x2x2();
    test_volumes_48x4x2();
    test_volumes_quantized();
    test_general_formula();
    test_memory();
    test_bad_inputs();
    return h_finish();
}
