#ifndef NNET_CONV_TRANSPOSE2D_WEIGHT_PORT_H_
#define NNET_CONV_TRANSPOSE2D_WEIGHT_PORT_H_

// fpgagen's hls4ml extension: the transposed convolution (nnet_conv_transpose2d_stream.h) with its weights on a
// weight port of the top function (nnet_weight_port.h) instead of compiled in, as the RTL twin's
// fg_conv_transpose2d (WEIGHT_SOURCE LOADED) and fg_conv_transpose2d_ws (streamed) read them.
//
// The pass holds the RTL's words (fpgagen.rtl.memfiles.conv_transpose_words): n_groups * filt_size^2 * n_blocks
// words of n_in_block x n_out_group lanes (the layer's fpgagen.core.transposed.tap_split, as CONFIG_T's), word
// ((og * filt_size + ty) * filt_size + tx) * n_blocks + ib holding, in lane po * n_in_block + pi, the weight of tap
// (ty, tx) from input channel ib * n_in_block + pi to output channel og * n_out_group + po (0 beyond n_filt, a
// ragged last group). Output groups outermost, where the ROM kernel's array has taps outermost.
//
// loaded (conv_transpose_2d_weight_port_cl): the first call reads the pass into an on-chip RAM (a function-static
// array, written once as after reset) at the ROM kernel's addresses, then every call is conv_transpose_2d_cl.
//
// streamed (conv_transpose_2d_ws_cl), weight-stationary as fg_conv_transpose2d_ws: every call reads the whole pass
// once, in its order, and each word is used where it is read: the whole input frame is buffered first, and the
// word of tap (ty, tx) adds its products into every output pixel (iy * stride - pad + ty, ix * stride - pad + tx)
// that lies inside the output, one accumulator per output pixel and channel (starting at the bias). The outputs
// leave, each cast once to the result type, when the last word is in. fpgagen's accumulators are exact, so the
// order of the sums changes no bit: fpgagen.core.golden.conv_transpose2d.

#include "nnet_conv_transpose2d_stream.h"
#include "nnet_weight_port.h"

namespace nnet {

template <typename CONFIG_T, typename PORT_T> struct conv_transpose_weight_port_check {
    static const bool same_split = PORT_T::n_in_block == CONFIG_T::n_in_block &&
                                   PORT_T::n_out_group == CONFIG_T::n_out_group &&
                                   PORT_T::n_blocks == CONFIG_T::n_blocks && PORT_T::n_groups == CONFIG_T::n_groups &&
                                   PORT_T::n_words * PORT_T::multiplier_limit == CONFIG_T::n_weights;
};

template <class data_T, class res_T, typename CONFIG_T, typename PORT_T, class beat_T>
void conv_transpose_2d_weight_port_cl(hls::stream<data_T> &data, hls::stream<res_T> &res,
                                      hls::stream<beat_T> &weight_stream,
                                      typename CONFIG_T::bias_t biases[CONFIG_T::n_filt]) {
    static_assert(PORT_T::loaded, "conv_transpose_2d_weight_port_cl is the loaded kernel (streamed: _ws_cl)");
    static_assert(conv_transpose_weight_port_check<CONFIG_T, PORT_T>::same_split, "the pass must split as the layer");
    static const unsigned taps = CONFIG_T::filt_size * CONFIG_T::filt_size;

    static typename CONFIG_T::weight_t weights[CONFIG_T::n_weights];
    static bool written = false;
    if (!written) {
        weight_gearbox<PORT_T::beat_bits, PORT_T::multiplier_limit, PORT_T::lane_bits> gearbox;
    LoadGroups:
        for (unsigned og = 0; og < CONFIG_T::n_groups; og++) {
        LoadTaps:
            for (unsigned tap = 0; tap < taps; tap++) {
            LoadBlocks:
                for (unsigned ib = 0; ib < CONFIG_T::n_blocks; ib++) {
                    #pragma HLS PIPELINE II=1
                    typename PORT_T::weight_t word[PORT_T::multiplier_limit];
                    gearbox.next(weight_stream, word);
                    const unsigned base = ((tap * CONFIG_T::n_groups + og) * CONFIG_T::n_blocks + ib) *
                                          CONFIG_T::multiplier_limit;
                LoadLanes:
                    for (unsigned lane = 0; lane < CONFIG_T::multiplier_limit; lane++) {
                        weights[base + lane] = word[lane];
                    }
                }
            }
        }
        written = true;
    }
    conv_transpose_2d_cl<data_T, res_T, CONFIG_T>(data, res, weights, biases);
}

template <class data_T, class res_T, typename CONFIG_T, typename PORT_T, class beat_T>
void conv_transpose_2d_ws_cl(hls::stream<data_T> &data, hls::stream<res_T> &res, hls::stream<beat_T> &weight_stream,
                             typename CONFIG_T::bias_t biases[CONFIG_T::n_filt]) {
    static_assert(!PORT_T::loaded, "conv_transpose_2d_ws_cl is the streamed kernel (loaded: _weight_port_cl)");
    static_assert(conv_transpose_weight_port_check<CONFIG_T, PORT_T>::same_split, "the pass must split as the layer");
    typedef typename data_T::value_type x_t;
    typedef typename CONFIG_T::weight_t weight_t;
    typedef typename CONFIG_T::accum_t accum_t;
    const int stride = CONFIG_T::stride;
    const int pad = CONFIG_T::pad;

    x_t frame[CONFIG_T::in_height][CONFIG_T::in_width][CONFIG_T::n_chan];
    #pragma HLS ARRAY_PARTITION variable=frame complete dim=3
    accum_t acc[CONFIG_T::out_height][CONFIG_T::out_width][CONFIG_T::n_filt];
    #pragma HLS ARRAY_PARTITION variable=acc complete dim=3

ReadRows:
    for (unsigned iy = 0; iy < CONFIG_T::in_height; iy++) {
    ReadCols:
        for (unsigned ix = 0; ix < CONFIG_T::in_width; ix++) {
            #pragma HLS PIPELINE II=1
            data_T beat = data.read();
        ReadChannels:
            for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
                #pragma HLS UNROLL
                frame[iy][ix][c] = beat[c];
            }
        }
    }

InitRows:
    for (unsigned oy = 0; oy < CONFIG_T::out_height; oy++) {
    InitCols:
        for (unsigned ox = 0; ox < CONFIG_T::out_width; ox++) {
            #pragma HLS PIPELINE II=1
        InitAccum:
            for (unsigned o = 0; o < CONFIG_T::n_filt; o++) {
                #pragma HLS UNROLL
                acc[oy][ox][o] = static_cast<accum_t>(biases[o]);
            }
        }
    }

    weight_gearbox<PORT_T::beat_bits, PORT_T::multiplier_limit, PORT_T::lane_bits> gearbox;
Groups:
    for (unsigned og = 0; og < CONFIG_T::n_groups; og++) {
    TapsY:
        for (int ty = 0; ty < (int)CONFIG_T::filt_size; ty++) {
        TapsX:
            for (int tx = 0; tx < (int)CONFIG_T::filt_size; tx++) {
            Blocks:
                for (unsigned ib = 0; ib < CONFIG_T::n_blocks; ib++) {
                    weight_t word[CONFIG_T::multiplier_limit];
                    #pragma HLS ARRAY_PARTITION variable=word complete
                    gearbox.next(weight_stream, word);
                InputRows:
                    for (int iy = 0; iy < (int)CONFIG_T::in_height; iy++) {
                        const int oy = iy * stride - pad + ty;
                        if (oy < 0 || oy >= (int)CONFIG_T::out_height)
                            continue;
                    InputCols:
                        for (int ix = 0; ix < (int)CONFIG_T::in_width; ix++) {
                            #pragma HLS PIPELINE II=1
                            const int ox = ix * stride - pad + tx;
                            if (ox < 0 || ox >= (int)CONFIG_T::out_width)
                                continue;
                        Outputs:
                            for (unsigned po = 0; po < CONFIG_T::n_out_group; po++) {
                                #pragma HLS UNROLL
                                const unsigned o = og * CONFIG_T::n_out_group + po;
                            Inputs:
                                for (unsigned pi = 0; pi < CONFIG_T::n_in_block; pi++) {
                                    #pragma HLS UNROLL
                                    if (o < CONFIG_T::n_filt) { // a ragged last group's surplus lanes add nothing
                                        acc[oy][ox][o] += static_cast<accum_t>(
                                            CONFIG_T::template product<x_t, weight_t>::product(
                                                frame[iy][ix][ib * CONFIG_T::n_in_block + pi],
                                                word[po * CONFIG_T::n_in_block + pi]));
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

WriteRows:
    for (unsigned oy = 0; oy < CONFIG_T::out_height; oy++) {
    WriteCols:
        for (unsigned ox = 0; ox < CONFIG_T::out_width; ox++) {
            #pragma HLS PIPELINE II=1
            res_T out;
            PRAGMA_DATA_PACK(out)
        CastOut:
            for (unsigned o = 0; o < CONFIG_T::n_filt; o++) {
                #pragma HLS UNROLL
                out[o] = static_cast<typename res_T::value_type>(acc[oy][ox][o]);
            }
            res.write(out);
        }
    }
}

} // namespace nnet

#endif
