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
// reads exactly its pass_beats beats.
template <unsigned BEAT_BITS, unsigned WORD_BITS> class weight_gearbox {
    static const unsigned K = WORD_BITS <= BEAT_BITS ? BEAT_BITS / WORD_BITS : 1;            // words per beat
    static const unsigned R = WORD_BITS <= BEAT_BITS ? 1 : (WORD_BITS + BEAT_BITS - 1) / BEAT_BITS;  // beats per word
    ap_uint<BEAT_BITS> beat;
    unsigned slot;  // the next word's slot in the held beat; K: none held

  public:
    weight_gearbox() : beat(0), slot(K) {}

    template <class beat_T> ap_uint<WORD_BITS> next(hls::stream<beat_T> &beats) {
        #pragma HLS INLINE
        ap_uint<R * BEAT_BITS> bits = 0;
        if (R > 1) {
        WordBeats:
            for (unsigned r = 0; r < R; r++) {
                bits.range((r + 1) * BEAT_BITS - 1, r * BEAT_BITS) = ap_uint<BEAT_BITS>(beats.read());
            }
            return bits(WORD_BITS - 1, 0);
        }
        if (slot == K) {
            beat = beats.read();
            slot = 0;
        }
        ap_uint<WORD_BITS> word = beat.range(slot * WORD_BITS + WORD_BITS - 1, slot * WORD_BITS);
        slot++;
        return word;
    }
};

// One word's multiplier_limit weights from the gearbox, each code's bits taken as weight_t's (CONFIG_T: beat_bits,
// multiplier_limit, lane_bits, weight_t).
template <typename CONFIG_T, class beat_T>
void weight_port_word(weight_gearbox<CONFIG_T::beat_bits, CONFIG_T::multiplier_limit * CONFIG_T::lane_bits> &gearbox,
                      hls::stream<beat_T> &beats, typename CONFIG_T::weight_t word[CONFIG_T::multiplier_limit]) {
    #pragma HLS INLINE
    ap_uint<CONFIG_T::multiplier_limit * CONFIG_T::lane_bits> bits = gearbox.next(beats);
WordLanes:
    for (unsigned lane = 0; lane < CONFIG_T::multiplier_limit; lane++) {
        word[lane].range(CONFIG_T::lane_bits - 1, 0) =
            bits.range(lane * CONFIG_T::lane_bits + CONFIG_T::lane_bits - 1, lane * CONFIG_T::lane_bits);
    }
}

} // namespace nnet

#endif
