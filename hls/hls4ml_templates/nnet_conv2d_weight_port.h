#ifndef NNET_CONV2D_WEIGHT_PORT_H_
#define NNET_CONV2D_WEIGHT_PORT_H_

// fpgagen's hls4ml extension: hls4ml's conv_2d_cl (io_stream) whose weights are not compiled into the kernel but
// loaded from a weight port of the top function (nnet_weight_port.h), as the RTL twin's fg_conv2d with
// WEIGHT_SOURCE LOADED reads them. A conv2d is never streamed: every output pixel reads all its weights again.
//
// The pass holds fg_conv2d's words: the conv as a dense kernel of n_in = filt_height * filt_width * n_chan inputs
// in (kh, kw, c) order and n_filt outputs (fpgagen.rtl.memfiles.conv_weights_as_dense), split as its MAC array
// splits it (PORT_T: n_in_block x n_out_group lanes, fpgagen.core.folding.dense_split). Word og * n_blocks + ib
// holds, in lane po * n_in_block + pi, the weight from input ib * n_in_block + pi to output og * n_out_group + po.
//
// The first call reads the pass into an on-chip RAM (a function-static array: written once, as after reset) laid
// out as hls4ml's Resource strategy lays its weights, (n_filt, filt_height, filt_width, n_chan) flattened
// (hls4ml's vivado:apply_resource_strategy), so that conv_2d_cl then computes exactly what it computes with the
// weights compiled in; later calls read nothing from the port. fpgagen.hls.hls4ml_weight_ports checks that hls4ml
// laid this layer's weights out so before it drops them from the project.

#include "nnet_conv2d_stream.h"
#include "nnet_weight_port.h"

namespace nnet {

template <class data_T, class res_T, typename CONFIG_T, typename PORT_T, class beat_T>
void conv_2d_weight_port_cl(hls::stream<data_T> &data, hls::stream<res_T> &res, hls::stream<beat_T> &weight_stream,
                            typename CONFIG_T::bias_t biases[CONFIG_T::n_filt]) {
    static const unsigned n_in = CONFIG_T::filt_height * CONFIG_T::filt_width * CONFIG_T::n_chan;
    static_assert(PORT_T::loaded, "a conv2d reads every weight at every output pixel: loaded, never streamed");
    static_assert(PORT_T::n_in_block * PORT_T::n_blocks == n_in, "n_in_block must divide the window's inputs");
    static_assert(PORT_T::n_out_group * PORT_T::n_groups == CONFIG_T::n_filt, "n_out_group must divide n_filt");
    static_assert(PORT_T::n_words == PORT_T::n_blocks * PORT_T::n_groups, "one word per block and group");

    static typename CONFIG_T::weight_t weights[n_in * CONFIG_T::n_filt];
    static bool written = false;
    if (!written) {
        weight_gearbox<PORT_T::beat_bits, PORT_T::multiplier_limit, PORT_T::lane_bits> gearbox;
    LoadWords:
        for (unsigned k = 0; k < PORT_T::n_words; k++) {
            const unsigned og = k / PORT_T::n_blocks;
            const unsigned ib = k % PORT_T::n_blocks;
            typename PORT_T::weight_t word[PORT_T::multiplier_limit];
            gearbox.next(weight_stream, word);
        LoadOutputs:
            for (unsigned po = 0; po < PORT_T::n_out_group; po++) {
            LoadInputs:
                for (unsigned pi = 0; pi < PORT_T::n_in_block; pi++) {
                    #pragma HLS PIPELINE II=1
                    weights[(og * PORT_T::n_out_group + po) * n_in + ib * PORT_T::n_in_block + pi] =
                        word[po * PORT_T::n_in_block + pi];
                }
            }
        }
        written = true;
    }
    conv_2d_cl<data_T, res_T, CONFIG_T>(data, res, weights, biases);
}

} // namespace nnet

#endif
