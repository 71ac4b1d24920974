// C API over the Verilator build of a generated fpgagen top (compiled with --prefix Vtop), for ctypes.
// Used by fpgagen.host.virtual_board.rtlsim_backend (the "rtlsim" kernel backend of the virtual board). One cycle =
// inputs set, eval with aclk low (combinational ready/valid settle), handshakes sampled, then a rising edge.
//
// Weight ports (s_axis_w<k>_*, the top's loaded and streamed layers): the generated fg_weight_ports.cpp says how
// many there are and drives them. Each port is fed from a buffer of beats (fg_set_weights) through a model of
// the DMA and the DDR behind it: every cycle the DDR grants up to ddr_bytes_per_cycle (a token bucket holding at
// most one cycle of every port's beats), in round-robin order between the ports, each port fetching at most one
// beat per cycle into its FIFO of fifo_depth beats; TVALID is high while the FIFO holds a beat. So a port never
// delivers more than one beat per clock (its HP port's width) and all of them together never more than the DDR's
// bandwidth: the kernel's cycles include every stall on weights.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "Vtop.h"
#include "verilated.h"

// generated with the top (fpgagen.rtl.generate): the weight ports of this design
int fg_weight_port_count();
int fg_weight_beat_bytes();
void fg_weight_drive(Vtop* top, int port, const uint8_t* beat, bool valid);
bool fg_weight_ready(Vtop* top, int port);
bool fg_weight_waits(Vtop* top, int port);  // the stage behind the port wants a word its gearbox does not hold

namespace {
struct WeightPort {
    const uint8_t* data = nullptr;  // the caller's buffer (kept alive by the caller until the next set)
    int64_t beats = 0;              // beats in it
    int64_t sent = 0;               // beats the kernel took from it
    int64_t fetched = 0;            // beats fetched into the FIFO (sent <= fetched <= beats)
    int waiting = 0;                // cycles in a row the stage waited for a word with the buffer used up
};

// A stage that waited this many cycles in a row for a word, its port's buffer used up, is starved: its gearbox
// holds no partial word about to complete (that takes at most a few cycles), so nothing moves there until the
// host hands the port more. fg_run then stops once STARVED_IDLE cycles pass without any handshake (the stages
// behind it have drained what they could; what they still compute resumes with the next fg_run).
constexpr int STARVED_CYCLES = 8;
constexpr uint64_t STARVED_IDLE = 64;

struct Sim {
    std::unique_ptr<VerilatedContext> ctx;
    std::unique_ptr<Vtop> top;
    uint64_t cycles = 0;
    // random stalls of the streams around the kernel (fg_set_stalls): per-mille chances per cycle
    uint32_t idle_permille = 0, backpressure_permille = 0;
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    std::vector<WeightPort> wports;
    double ddr_bytes_per_cycle = 0.0;  // 0: no cap (each port one beat per cycle)
    double ddr_credit = 0.0;
    int64_t fifo_depth = 64;
    int rr = 0;                        // the port the DDR serves first this cycle
};

// The DMA and DDR model: fetch this cycle's beats into the ports' FIFOs, then drive TVALID/TDATA.
void weights_fetch_and_drive(Sim* s) {
    const int n = static_cast<int>(s->wports.size());
    if (!n) return;
    const int64_t bytes = fg_weight_beat_bytes();
    if (s->ddr_bytes_per_cycle > 0) {
        s->ddr_credit = std::min(s->ddr_credit + s->ddr_bytes_per_cycle, static_cast<double>(n * bytes));
    }
    for (int i = 0; i < n; ++i) {
        WeightPort& p = s->wports[(s->rr + i) % n];
        const bool want = p.fetched < p.beats && p.fetched - p.sent < s->fifo_depth;
        if (!want) continue;
        if (s->ddr_bytes_per_cycle > 0) {
            if (s->ddr_credit < bytes) continue;
            s->ddr_credit -= bytes;
        }
        p.fetched++;
    }
    s->rr = (s->rr + 1) % n;
    for (int k = 0; k < n; ++k) {
        WeightPort& p = s->wports[k];
        const bool valid = p.fetched > p.sent;
        fg_weight_drive(s->top.get(), k, valid ? p.data + p.sent * bytes : nullptr, valid);
    }
}

// After eval: count the beats taken; returns whether any was. `starved`: a stage has waited STARVED_CYCLES for
// a word with its port's buffer used up (the host has to hand it more: nothing moves there until then).
bool weights_take(Sim* s, bool* starved) {
    bool any = false;
    for (int k = 0; k < static_cast<int>(s->wports.size()); ++k) {
        WeightPort& p = s->wports[k];
        if (p.fetched > p.sent && fg_weight_ready(s->top.get(), k)) {
            p.sent++;
            any = true;
        }
        const bool used_up = p.sent >= p.beats;
        p.waiting = (used_up && fg_weight_waits(s->top.get(), k)) ? p.waiting + 1 : 0;
        *starved = *starved || p.waiting >= STARVED_CYCLES;
    }
    return any;
}

void weights_idle(Sim* s) {
    for (int k = 0; k < static_cast<int>(s->wports.size()); ++k) fg_weight_drive(s->top.get(), k, nullptr, false);
}

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

int fg_abi_version() { return 3; }

int fg_weight_ports(void*) { return fg_weight_port_count(); }
int fg_weight_bytes(void*) { return fg_weight_beat_bytes(); }

// The DDR behind the weight ports: ddr_bytes_per_cycle in all (0: no cap), fifo_depth beats of DMA FIFO per port.
void fg_set_ddr(void* h, double ddr_bytes_per_cycle, int64_t fifo_depth) {
    Sim* s = static_cast<Sim*>(h);
    s->ddr_bytes_per_cycle = ddr_bytes_per_cycle > 0 ? ddr_bytes_per_cycle : 0.0;
    s->fifo_depth = fifo_depth > 0 ? fifo_depth : 1;
    s->ddr_credit = 0.0;
}

// Port `port` sends from `data` (`beats` beats of fg_weight_bytes each) from the next fg_run on. The buffer starts
// with the beats not taken yet from the previous one (fg_weights_taken says how many were): the beats already in
// the FIFO stay there. Returns -1 for a port the design lacks.
int fg_set_weights(void* h, int port, const uint8_t* data, int64_t beats) {
    Sim* s = static_cast<Sim*>(h);
    if (port < 0 || port >= static_cast<int>(s->wports.size())) return -1;
    WeightPort& p = s->wports[port];
    p.fetched = std::min(p.fetched - p.sent, beats);
    p.data = data;
    p.beats = beats;
    p.sent = 0;
    return 0;
}

// Beats of the current buffer (fg_set_weights) the kernel took; -1 for a port the design lacks.
int64_t fg_weights_taken(void* h, int port) {
    Sim* s = static_cast<Sim*>(h);
    if (port < 0 || port >= static_cast<int>(s->wports.size())) return -1;
    return s->wports[port].sent;
}

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
    s->wports.resize(fg_weight_port_count());
    weights_idle(s);
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

// aresetn low for `cycles` rising edges (inputs idle), then high. The weight ports' FIFOs and buffers empty.
void fg_reset(void* h, int cycles) {
    Sim* s = static_cast<Sim*>(h);
    s->top->aresetn = 0;
    s->top->s_axis_tvalid = 0;
    s->top->m_axis_tready = 0;
    for (WeightPort& p : s->wports) p = WeightPort();
    s->ddr_credit = 0.0;
    weights_idle(s);
    for (int i = 0; i < cycles; ++i) {
        s->top->eval();
        tick(s);
    }
    s->top->aresetn = 1;
    s->top->eval();
}

// Clock the model: offer in_data/in_last (n_in beats, in order, honouring s_axis_tready) while holding
// m_axis_tready high as long as fewer than out_cap beats were taken into out_data/out_last (both with the random
// stalls of fg_set_stalls, if set), and the weight ports' buffers through the DDR model.
// Stops (before clocking further) when
//   - out_cap beats were produced, or
//   - every input beat was accepted, at least want_out beats were produced and min_cycles cycles clocked, or
//   - stop_at_last and a beat with TLAST was produced, or
//   - idle_limit cycles passed without any handshake, weight ports included (returns 1), or
//   - a stage is starved of weights and STARVED_IDLE cycles passed without a handshake (returns 3: hand its port
//     more, fg_set_weights), or
//   - max_cycles cycles were clocked (returns 2).
// result[0..2] = beats consumed, beats produced, cycles clocked. Returns 0 on a normal stop.
int fg_run(void* h, const uint32_t* in_data, const uint8_t* in_last, int64_t n_in, uint32_t* out_data,
           uint8_t* out_last, int64_t out_cap, int64_t want_out, int stop_at_last, uint64_t idle_limit,
           uint64_t max_cycles, uint64_t min_cycles, int64_t* result) {
    Sim* s = static_cast<Sim*>(h);
    Vtop* t = s->top.get();
    int64_t consumed = 0, produced = 0;
    uint64_t clocked = 0, idle = 0;
    int rc = 0;
    bool saw_last = false, starved = false;
    for (;;) {
        if (produced >= out_cap) break;
        if (consumed >= n_in && produced >= want_out && clocked >= min_cycles) break;
        if (stop_at_last && saw_last) break;
        if (starved && idle >= STARVED_IDLE) { rc = 3; break; }
        if (clocked >= max_cycles) { rc = 2; break; }
        if (idle >= idle_limit) { rc = 1; break; }
        const bool source_idle = s->idle_permille && draw(s) < s->idle_permille;
        const bool sink_stalls = s->backpressure_permille && draw(s) < s->backpressure_permille;
        const bool offer = consumed < n_in && !source_idle;
        t->s_axis_tvalid = offer;
        t->s_axis_tdata = offer ? in_data[consumed] : 0;
        t->s_axis_tlast = offer ? (in_last[consumed] != 0) : 0;
        t->m_axis_tready = !sink_stalls;
        weights_fetch_and_drive(s);
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
        starved = false;
        const bool w_fire = weights_take(s, &starved);
        idle = (s_fire || m_fire || w_fire) ? 0 : idle + 1;
        tick(s);
        clocked++;
    }
    // leave the bus idle between calls (the DMA is not driving it)
    t->s_axis_tvalid = 0;
    t->m_axis_tready = 0;
    weights_idle(s);
    t->eval();
    result[0] = consumed;
    result[1] = produced;
    result[2] = static_cast<int64_t>(clocked);
    return rc;
}

}  // extern "C"
