#ifndef NNET_CONV_TRANSPOSE2D_STREAM_H_
#define NNET_CONV_TRANSPOSE2D_STREAM_H_

// fpgagen's hls4ml extension: torch's ConvTranspose2d (square kernel, dilation 1, groups 1) on io_stream.
//
// Sub-pixel form: output row y, column x uses only the kernel taps of its phase, t = r, r + stride, ... with
// r = (y + pad) % stride, each with the input pixel i = (y + pad - t) / stride, and only the taps whose input
// pixel exists. Nothing multiplies an inserted zero or a padding zero. Each useful tap is a C x O product done by
// n_in_block x n_out_group multipliers (fpgagen.core.transposed.tap_split: n_in_block divides C, n_out_group need
// not divide O) in reuse_factor = n_blocks * n_groups cycles; a ragged last output group multiplies zero weights
// and adds nothing. Accumulation is in accum_t (bias first), then one cast of each output to the result type --
// fpgagen.core.golden.conv_transpose2d.
//
// Streams: one beat is one pixel, all channels (channels last), raster order, in and out.
// Output size: out_height follows from torch's output_padding, which fpgagen also allows negative (an end crop,
// as Keras's 'same'); the kernel needs only that the last output row reads the last input row, so each frame's
// every input row is consumed (asserted below; fpgagen.core.transposed.transposed_support keeps to it).
// Line buffer: the n_rows = (filt_size - 1) / stride + 1 input rows one output row can need, as a ring.
// Weights: n_weights = filt_size^2 * n_groups * n_blocks * multiplier_limit, laid out as (tap, output group, input
// block, output in group, input in block), zero beyond n_filt: each cycle of a tap reads one word of
// multiplier_limit consecutive weights.

#include "hls_stream.h"
#include "nnet_common.h"
#include "nnet_mult.h"
#include <assert.h>

namespace nnet {

struct conv_transpose2d_config {
    static const unsigned in_height = 1;
    static const unsigned in_width = 1;
    static const unsigned n_chan = 1;
    static const unsigned out_height = 1;
    static const unsigned out_width = 1;
    static const unsigned n_filt = 1;
    static const unsigned filt_size = 1;
    static const unsigned stride = 1;
    static const unsigned pad = 0;
    static const unsigned n_rows = 1;         // (filt_size - 1) / stride + 1: input rows held, also taps per phase
    static const unsigned n_in_block = 1;     // input channels per output per cycle (divides n_chan)
    static const unsigned n_out_group = 1;    // outputs per cycle
    static const unsigned n_blocks = 1;       // n_chan / n_in_block
    static const unsigned n_groups = 1;       // ceil(n_filt / n_out_group)
    static const unsigned reuse_factor = 1;   // cycles per useful tap: n_blocks * n_groups
    static const unsigned multiplier_limit = 1; // n_in_block * n_out_group
    static const unsigned n_weights = 1;      // filt_size^2 * n_groups * n_blocks * multiplier_limit
    typedef float accum_t;
    typedef float bias_t;
    typedef float weight_t;
    template <class x_T, class y_T> using product = nnet::product::mult<x_T, y_T>;
};

// Reads one input row (in_width beats) into line buffer slot `slot`.
template <class data_T, typename CONFIG_T>
void conv_transpose_read_row(hls::stream<data_T> &data,
                             typename data_T::value_type line_buffer[CONFIG_T::n_rows][CONFIG_T::in_width][CONFIG_T::n_chan],
                             const unsigned slot) {
    #pragma HLS INLINE
ReadRowPixels:
    for (unsigned ix = 0; ix < CONFIG_T::in_width; ix++) {
        #pragma HLS PIPELINE II=1
        data_T beat = data.read();
    ReadRowChannels:
        for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
            #pragma HLS UNROLL
            line_buffer[slot][ix][c] = beat[c];
        }
    }
}

// acc[o] += sum_c pixel[c] * w[tap][o][c]: per cycle one output group's n_out_group outputs, each over one input
// block's n_in_block channels (multiplier_limit products, one weight word).
template <class data_T, typename CONFIG_T>
void conv_transpose_tap(const data_T pixel[CONFIG_T::n_chan],
                        const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                        const unsigned tap, typename CONFIG_T::accum_t acc[CONFIG_T::n_filt]) {
    #pragma HLS INLINE
ReuseLoop:
    for (unsigned ir = 0; ir < CONFIG_T::reuse_factor; ir++) {
        #pragma HLS PIPELINE II=1
        const unsigned og = ir / CONFIG_T::n_blocks;
        const unsigned ib = ir % CONFIG_T::n_blocks;
        const unsigned word_base = ((tap * CONFIG_T::n_groups + og) * CONFIG_T::n_blocks + ib) * CONFIG_T::multiplier_limit;
    GroupLoop:
        for (unsigned po = 0; po < CONFIG_T::n_out_group; po++) {
            #pragma HLS UNROLL
            const unsigned o = og * CONFIG_T::n_out_group + po;
        BlockLoop:
            for (unsigned pi = 0; pi < CONFIG_T::n_in_block; pi++) {
                #pragma HLS UNROLL
                if (o < CONFIG_T::n_filt) { // a ragged last group's surplus lanes add nothing
                    acc[o] += static_cast<typename CONFIG_T::accum_t>(
                        CONFIG_T::template product<data_T, typename CONFIG_T::weight_t>::product(
                            pixel[ib * CONFIG_T::n_in_block + pi], weights[word_base + po * CONFIG_T::n_in_block + pi]));
                }
            }
        }
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void conv_transpose_2d_cl(
    hls::stream<data_T> &data, hls::stream<res_T> &res,
    typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
    typename CONFIG_T::bias_t biases[CONFIG_T::n_filt]) {
    assert(CONFIG_T::n_chan == CONFIG_T::n_blocks * CONFIG_T::n_in_block &&
           CONFIG_T::n_groups * CONFIG_T::n_out_group >= CONFIG_T::n_filt &&
           (CONFIG_T::n_groups - 1) * CONFIG_T::n_out_group < CONFIG_T::n_filt &&
           CONFIG_T::reuse_factor == CONFIG_T::n_blocks * CONFIG_T::n_groups &&
           CONFIG_T::multiplier_limit == CONFIG_T::n_in_block * CONFIG_T::n_out_group &&
           CONFIG_T::n_weights == CONFIG_T::filt_size * CONFIG_T::filt_size * CONFIG_T::reuse_factor * CONFIG_T::multiplier_limit &&
           "the split must be fpgagen.core.transposed.tap_split's");
    assert(CONFIG_T::pad < CONFIG_T::filt_size && CONFIG_T::n_rows == (CONFIG_T::filt_size - 1) / CONFIG_T::stride + 1);
    assert((CONFIG_T::out_height - 1 + CONFIG_T::pad) / CONFIG_T::stride >= CONFIG_T::in_height - 1 &&
           (CONFIG_T::out_width - 1 + CONFIG_T::pad) / CONFIG_T::stride >= CONFIG_T::in_width - 1 &&
           "the last output row and column must read the last input row and column");

    // One word holds the multiplier_limit weights a ReuseLoop iteration reads (consecutive within a tap).
    const int multiplier_limit = CONFIG_T::multiplier_limit;
    #pragma HLS ARRAY_RESHAPE variable=weights cyclic factor=multiplier_limit
    #pragma HLS ARRAY_PARTITION variable=biases complete

    typename data_T::value_type line_buffer[CONFIG_T::n_rows][CONFIG_T::in_width][CONFIG_T::n_chan];
    #pragma HLS ARRAY_PARTITION variable=line_buffer complete dim=3

    const int stride = CONFIG_T::stride;
    const int pad = CONFIG_T::pad;
    int rows_read = 0;

OutputRows:
    for (int oy = 0; oy < (int)CONFIG_T::out_height; oy++) {
        // The deepest input row output row oy reads; the rows above the ring's reach are no longer needed.
        const int last_row = MIN((oy + pad) / stride, (int)CONFIG_T::in_height - 1);
    FillLineBuffer:
        for (unsigned r = 0; r < CONFIG_T::n_rows; r++) {
            if (rows_read <= last_row) {
                conv_transpose_read_row<data_T, CONFIG_T>(data, line_buffer, rows_read % CONFIG_T::n_rows);
                rows_read++;
            }
        }
        const int phase_y = (oy + pad) % stride;

    OutputCols:
        for (int ox = 0; ox < (int)CONFIG_T::out_width; ox++) {
            const int phase_x = (ox + pad) % stride;

            typename CONFIG_T::accum_t acc[CONFIG_T::n_filt];
            #pragma HLS ARRAY_PARTITION variable=acc complete
        InitAccum:
            for (unsigned o = 0; o < CONFIG_T::n_filt; o++) {
                #pragma HLS UNROLL
                acc[o] = static_cast<typename CONFIG_T::accum_t>(biases[o]);
            }

        TapsY:
            for (unsigned jy = 0; jy < CONFIG_T::n_rows; jy++) {
                const int ty = phase_y + (int)jy * stride;
                const int dy = oy + pad - ty; // a multiple of stride
                if (ty >= (int)CONFIG_T::filt_size || dy < 0 || dy / stride >= (int)CONFIG_T::in_height)
                    continue;
                const unsigned slot = (dy / stride) % CONFIG_T::n_rows;
            TapsX:
                for (unsigned jx = 0; jx < CONFIG_T::n_rows; jx++) {
                    const int tx = phase_x + (int)jx * stride;
                    const int dx = ox + pad - tx;
                    if (tx >= (int)CONFIG_T::filt_size || dx < 0 || dx / stride >= (int)CONFIG_T::in_width)
                        continue;
                    typename data_T::value_type pixel[CONFIG_T::n_chan];
                    #pragma HLS ARRAY_PARTITION variable=pixel complete
                PixelCopy:
                    for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
                        #pragma HLS UNROLL
                        pixel[c] = line_buffer[slot][dx / stride][c];
                    }
                    conv_transpose_tap<typename data_T::value_type, CONFIG_T>(pixel, weights,
                                                                              ty * CONFIG_T::filt_size + tx, acc);
                }
            }

            res_T out;
            PRAGMA_DATA_PACK(out)
        CastOut:
            for (unsigned o = 0; o < CONFIG_T::n_filt; o++) {
                #pragma HLS UNROLL
                out[o] = static_cast<typename res_T::value_type>(acc[o]);
            }
            res.write(out);
        }
    }
    // The last output row reads input row in_height - 1 (padding <= filt_size - 1), so the input is consumed.
    assert(rows_read == (int)CONFIG_T::in_height);
}

} // namespace nnet

#endif
