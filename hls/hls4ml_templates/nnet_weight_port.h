#ifndef NNET_WEIGHT_PORT_H_
#define NNET_WEIGHT_PORT_H_

// fpgagen's hls4ml extension: what every kernel with a weight port shares. A weight port is an hls::stream of DMA
// beats (beat_bits wide: the board's HP port) on the top function, carrying one pass of a layer's weight words as
// the RTL twin reads them (fpgagen.core.weight_stream): n_words words of multiplier_limit lanes of lane_bits bits (a
// weight's two's-complement code, lane 0 least significant), aligned to beats: K = beat_bits / word_bits words per
// beat (word k % K at bit offset (k % K) * word_bits, the rest zero) when a word is no wider than a beat, else
// R = ceil(word_bits / beat_bits) beats per word. The kernels (nnet_dense_weight_port.h, nnet_conv2d_weight_port.h,
// nnet_conv_transpose2d_weight_port.h) read the words in the order of the RTL stage's ROM file
// (fpgagen.rtl.memfiles), so one weights file serves the RTL, the board and this C simulation.

#include "hls_stream.h"
#include "nnet_common.h"

namespace nnet {

// A convolution's weight port: its words split as the RTL stage's (n_in_block x n_out_group lanes), the pass.
struct weight_port_config {
    static const unsigned n_in_block = 1;       // PI: input (channels) per output per word
    static const unsigned n_out_group = 1;      // PO: outputs per word
    static const unsigned n_blocks = 1;         // input blocks: inputs / PI
    static const unsigned n_groups = 1;         // output groups: outputs / PO (rounded up for a transposed conv)
    static const unsigned multiplier_limit = 1; // lanes per word: PI * PO
    static const unsigned n_words = 1;          // words in the pass
    static const unsigned lane_bits = 1;        // a weight code's width: weight_t's
    static const unsigned beat_bits = 64;       // the weight port's beat
    static const unsigned pass_beats = 1;       // fpgagen.core.weight_stream.pass_beats
    static const bool loaded = true;            // true: read once into a RAM; false: streamed every call
    typedef float weight_t;
};

// DMA beats -> weight words (fg_weight_gearbox's job), for the beat-aligned layout: a word no wider than a beat is
// one of the K slots of the beat held (a new beat read when the slots run out), a wider one the next R beats side by
// side. Slots are constant offsets: no shifter. A gearbox starts at a beat boundary, as every pass does, so one pass
// reads exactly its pass_beats beats. A word is handed over as its LANES weights: each lane's bits come from one beat
// or a pair of neighbouring beats, so no integer is ever as wide as a word (ap_uint stops at AP_INT_MAX_W, 1024 bits
// by default, and a wide MAC array's words are wider: dcgan28's on the KV260 has 3,840-bit words).
template <unsigned BEAT_BITS, unsigned LANES, unsigned LANE_BITS> class weight_gearbox {
    static const unsigned WORD_BITS = LANES * LANE_BITS;
    static const unsigned K = WORD_BITS <= BEAT_BITS ? BEAT_BITS / WORD_BITS : 1;            // words per beat
    static const unsigned R = WORD_BITS <= BEAT_BITS ? 1 : (WORD_BITS + BEAT_BITS - 1) / BEAT_BITS;  // beats per word
    ap_uint<BEAT_BITS> beat;
    unsigned slot;  // the next word's slot in the held beat; K: none held

  public:
    weight_gearbox() : beat(0), slot(K) {}

    // The next word's weights, each code's bits taken as weight_T's.
    template <class beat_T, class weight_T> void next(hls::stream<beat_T> &beats, weight_T word[LANES]) {
        #pragma HLS INLINE
        if (R > 1) {
            ap_uint<BEAT_BITS> held[R + 1];  // the word's beats, and a zero past its end for the last lane's pair
            #pragma HLS ARRAY_PARTITION variable=held complete
        WordBeats:
            for (unsigned r = 0; r < R; r++) {
                held[r] = beats.read();
            }
            held[R] = 0;
        WideLanes:
            for (unsigned lane = 0; lane < LANES; lane++) {
                #pragma HLS UNROLL
                const unsigned r = lane * LANE_BITS / BEAT_BITS;
                const unsigned offset = lane * LANE_BITS % BEAT_BITS;
                ap_uint<2 * BEAT_BITS> pair;
                pair.range(BEAT_BITS - 1, 0) = held[r];
                pair.range(2 * BEAT_BITS - 1, BEAT_BITS) = held[r + 1];
                word[lane].range(LANE_BITS - 1, 0) = pair.range(offset + LANE_BITS - 1, offset);
            }
            return;
        }
        if (slot == K) {
            beat = beats.read();
            slot = 0;
        }
    SlotLanes:
        for (unsigned lane = 0; lane < LANES; lane++) {
            #pragma HLS UNROLL
            const unsigned low = slot * WORD_BITS + lane * LANE_BITS;
            word[lane].range(LANE_BITS - 1, 0) = beat.range(low + LANE_BITS - 1, low);
        }
        slot++;
    }
};

} // namespace nnet

#endif
