#ifndef NNET_DENSE_WEIGHT_PORT_H_
#define NNET_DENSE_WEIGHT_PORT_H_

// fpgagen's hls4ml extension: a dense layer whose weights are not compiled into the kernel but arrive on a weight
// port of the top function (nnet_weight_port.h: the beats, their layout, the gearbox), as the RTL twin's fg_dense
// with WEIGHT_SOURCE LOADED or STREAMED reads them.
//
// Word og * n_blocks + ib holds, in lane po * n_in_block + pi, the weight from input ib * n_in_block + pi to output
// og * n_out_group + po (fpgagen.rtl.memfiles.dense_words, fpgagen.core.folding.dense_split): fg_dense's order.
//
// streamed: every call reads the whole pass (pass_beats beats) while it multiplies.
// loaded: the first call reads the pass into an on-chip RAM (a function-static array: written once, as after
// reset); later calls read nothing from the port and use the RAM.
//
// Arithmetic as hls4ml's dense_resource: acc (accum_t) starts at the bias, each product of the input and the
// weight is cast to accum_t and added, each output is cast once to the result type. fpgagen's accumulators are
// exact, so the order of the sum (the RTL's, here) does not change a bit: fpgagen.core.golden.dense.

#include "hls_stream.h"
#include "nnet_common.h"
#include "nnet_mult.h"
#include "nnet_weight_port.h"
#include <assert.h>

namespace nnet {

struct dense_weight_port_config {
    static const unsigned n_in = 1;
    static const unsigned n_out = 1;
    static const unsigned n_in_block = 1;       // PI: inputs per output per word (divides n_in)
    static const unsigned n_out_group = 1;      // PO: outputs per word (divides n_out)
    static const unsigned n_blocks = 1;         // n_in / n_in_block
    static const unsigned n_groups = 1;         // n_out / n_out_group
    static const unsigned multiplier_limit = 1; // lanes per word: n_in_block * n_out_group
    static const unsigned n_words = 1;          // n_in * n_out / multiplier_limit
    static const unsigned lane_bits = 1;        // a weight code's width: weight_t's
    static const unsigned beat_bits = 64;       // the weight port's beat
    static const unsigned pass_beats = 1;       // fpgagen.core.weight_stream.pass_beats
    static const bool loaded = false;           // true: read once into a RAM; false: streamed every call
    typedef float accum_t;
    typedef float bias_t;
    typedef float weight_t;
    template <class x_T, class y_T> using product = nnet::product::mult<x_T, y_T>;
};

template <class data_T, class res_T, typename CONFIG_T, class beat_T>
void dense_weight_port(hls::stream<data_T> &data_stream, hls::stream<res_T> &res_stream,
                       hls::stream<beat_T> &weight_stream, typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
    static_assert(CONFIG_T::n_in_block * CONFIG_T::n_blocks == CONFIG_T::n_in, "n_in_block must divide n_in");
    static_assert(CONFIG_T::n_out_group * CONFIG_T::n_groups == CONFIG_T::n_out, "n_out_group must divide n_out");
    typedef typename CONFIG_T::weight_t weight_t;
    typedef typename CONFIG_T::accum_t accum_t;

    typename data_T::value_type data[CONFIG_T::n_in];
    #pragma HLS ARRAY_PARTITION variable=data complete
    accum_t acc[CONFIG_T::n_out];
    #pragma HLS ARRAY_PARTITION variable=acc complete

DataPrepare:
    for (unsigned i_in = 0; i_in < CONFIG_T::n_in / data_T::size; i_in++) {
        data_T data_pack = data_stream.read();
    DataPack:
        for (unsigned i_pack = 0; i_pack < data_T::size; i_pack++) {
            #pragma HLS UNROLL
            data[i_in * data_T::size + i_pack] = data_pack[i_pack];
        }
    }

InitAccum:
    for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
        #pragma HLS UNROLL
        acc[o] = (accum_t)biases[o];
    }

    // loaded: the RAM, written from the port by the first call only
    static weight_t ram[CONFIG_T::loaded ? CONFIG_T::n_words : 1][CONFIG_T::multiplier_limit];
    static bool written = false;
    weight_gearbox<CONFIG_T::beat_bits, CONFIG_T::multiplier_limit, CONFIG_T::lane_bits> gearbox;
    if (CONFIG_T::loaded && !written) {
    LoadWords:
        for (unsigned k = 0; k < CONFIG_T::n_words; k++) {
            gearbox.next(weight_stream, ram[k]);
        }
        written = true;
    }

Groups:
    for (unsigned og = 0; og < CONFIG_T::n_groups; og++) {
    Blocks:
        for (unsigned ib = 0; ib < CONFIG_T::n_blocks; ib++) {
            #pragma HLS PIPELINE II=1
            weight_t word[CONFIG_T::multiplier_limit];
            #pragma HLS ARRAY_PARTITION variable=word complete
            if (CONFIG_T::loaded) {
            RamLanes:
                for (unsigned lane = 0; lane < CONFIG_T::multiplier_limit; lane++) {
                    word[lane] = ram[og * CONFIG_T::n_blocks + ib][lane];
                }
            } else {
                gearbox.next(weight_stream, word);
            }
        Outputs:
            for (unsigned po = 0; po < CONFIG_T::n_out_group; po++) {
            Inputs:
                for (unsigned pi = 0; pi < CONFIG_T::n_in_block; pi++) {
                    acc[og * CONFIG_T::n_out_group + po] += static_cast<accum_t>(
                        CONFIG_T::template product<typename data_T::value_type, weight_t>::product(
                            data[ib * CONFIG_T::n_in_block + pi], word[po * CONFIG_T::n_in_block + pi]));
                }
            }
        }
    }

ResWrite:
    for (unsigned i_out = 0; i_out < CONFIG_T::n_out / res_T::size; i_out++) {
        res_T res_pack;
        PRAGMA_DATA_PACK(res_pack)
    ResPack:
        for (unsigned i_pack = 0; i_pack < res_T::size; i_pack++) {
            #pragma HLS UNROLL
            res_pack[i_pack] = (typename res_T::value_type)acc[i_out * res_T::size + i_pack];
        }
        res_stream.write(res_pack);
    }
}

} // namespace nnet

#endif
