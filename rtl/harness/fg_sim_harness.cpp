// C API over the Verilator build of a generated fpgagen top (compiled with --prefix Vtop), for ctypes.
// Used by fpgagen.host.rtl_backend (the "rtlsim" kernel backend of the virtual board). One cycle =
// inputs set, eval with aclk low (combinational ready/valid settle), handshakes sampled, then a rising edge.
#include <cstdint>
#include <memory>

#include "Vtop.h"
#include "verilated.h"

namespace {
struct Sim {
    std::unique_ptr<VerilatedContext> ctx;
    std::unique_ptr<Vtop> top;
    uint64_t cycles = 0;
    // random stalls of the streams around the kernel (fg_set_stalls): per-mille chances per cycle
    uint32_t idle_permille = 0, backpressure_permille = 0;
    uint64_t rng = 0x9E3779B97F4A7C15ull;
};

// xorshift64*: a draw in 0..999, reproducible from the seed
inline uint32_t draw(Sim* s) {
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return static_cast<uint32_t>(((s->rng * 0x2545F4914F6CDD1Dull) >> 32) % 1000);
}

inline void tick(Sim* s) {
    s->top->aclk = 1;
    s->top->eval();
    s->top->aclk = 0;
    s->cycles++;
}
}  // namespace

extern "C" {

int fg_abi_version() { return 2; }

// From the next fg_run on: each cycle the input holds TVALID low with idle_permille / 1000 chance (the source
// idles) and the output holds TREADY low with backpressure_permille / 1000 chance, drawn from `seed`.
void fg_set_stalls(void* h, uint32_t idle_permille, uint32_t backpressure_permille, uint64_t seed) {
    Sim* s = static_cast<Sim*>(h);
    s->idle_permille = idle_permille;
    s->backpressure_permille = backpressure_permille;
    s->rng = seed ? seed : 0x9E3779B97F4A7C15ull;
}

void* fg_create() {
    Sim* s = new Sim;
    s->ctx.reset(new VerilatedContext);
    s->ctx->commandArgs(0, static_cast<const char**>(nullptr));
    s->top.reset(new Vtop(s->ctx.get(), "top"));
    s->top->aclk = 0;
    s->top->aresetn = 0;
    s->top->s_axis_tvalid = 0;
    s->top->s_axis_tdata = 0;
    s->top->s_axis_tlast = 0;
    s->top->m_axis_tready = 0;
    s->top->eval();
    return s;
}

void fg_destroy(void* h) {
    Sim* s = static_cast<Sim*>(h);
    if (!s) return;
    s->top->final();
    delete s;
}

uint64_t fg_cycles(void* h) { return static_cast<Sim*>(h)->cycles; }

// aresetn low for `cycles` rising edges (inputs idle), then high.
void fg_reset(void* h, int cycles) {
    Sim* s = static_cast<Sim*>(h);
    s->top->aresetn = 0;
    s->top->s_axis_tvalid = 0;
    s->top->m_axis_tready = 0;
    for (int i = 0; i < cycles; ++i) {
        s->top->eval();
        tick(s);
    }
    s->top->aresetn = 1;
    s->top->eval();
}

// Clock the model: offer in_data/in_last (n_in beats, in order, honouring s_axis_tready) while holding
// m_axis_tready high as long as fewer than out_cap beats were taken into out_data/out_last (both with the random
// stalls of fg_set_stalls, if set).
// Stops (before clocking further) when
//   - out_cap beats were produced, or
//   - every input beat was accepted and at least want_out beats were produced, or
//   - stop_at_last and a beat with TLAST was produced, or
//   - idle_limit cycles passed without any handshake (returns 1), or
//   - max_cycles cycles were clocked (returns 2).
// result[0..2] = beats consumed, beats produced, cycles clocked. Returns 0 on a normal stop.
int fg_run(void* h, const uint32_t* in_data, const uint8_t* in_last, int64_t n_in, uint32_t* out_data,
           uint8_t* out_last, int64_t out_cap, int64_t want_out, int stop_at_last, uint64_t idle_limit,
           uint64_t max_cycles, int64_t* result) {
    Sim* s = static_cast<Sim*>(h);
    Vtop* t = s->top.get();
    int64_t consumed = 0, produced = 0;
    uint64_t clocked = 0, idle = 0;
    int rc = 0;
    bool saw_last = false;
    for (;;) {
        if (produced >= out_cap) break;
        if (consumed >= n_in && produced >= want_out) break;
        if (stop_at_last && saw_last) break;
        if (clocked >= max_cycles) { rc = 2; break; }
        if (idle >= idle_limit) { rc = 1; break; }
        const bool source_idle = s->idle_permille && draw(s) < s->idle_permille;
        const bool sink_stalls = s->backpressure_permille && draw(s) < s->backpressure_permille;
        const bool offer = consumed < n_in && !source_idle;
        t->s_axis_tvalid = offer;
        t->s_axis_tdata = offer ? in_data[consumed] : 0;
        t->s_axis_tlast = offer ? (in_last[consumed] != 0) : 0;
        t->m_axis_tready = !sink_stalls;
        t->eval();
        const bool s_fire = offer && t->s_axis_tready;
        const bool m_fire = t->m_axis_tvalid && !sink_stalls;
        if (m_fire) {
            out_data[produced] = t->m_axis_tdata;
            out_last[produced] = t->m_axis_tlast ? 1 : 0;
            saw_last = saw_last || t->m_axis_tlast;
            produced++;
        }
        if (s_fire) consumed++;
        idle = (s_fire || m_fire) ? 0 : idle + 1;
        tick(s);
        clocked++;
    }
    // leave the bus idle between calls (the DMA is not driving it)
    t->s_axis_tvalid = 0;
    t->m_axis_tready = 0;
    t->eval();
    result[0] = consumed;
    result[1] = produced;
    result[2] = static_cast<int64_t>(clocked);
    return rc;
}

}  // extern "C"
