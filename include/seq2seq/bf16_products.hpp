// seq2seq: bf16 training products, switched on for the whole process: set_bf16_products(true),
// or a Bf16ProductsScope. The large float products of training (and of anything else run while
// they are on) take operands rounded to bfloat16 and sum in float; the weights, gradients and
// optimizer state stay float. Needs the oneDNN backend and a CPU with AVX512_BF16
// (bf16_products_available()). detail/bf16_products.hpp has the implementation.
#ifndef SEQ2SEQ_BF16_PRODUCTS_HPP
#define SEQ2SEQ_BF16_PRODUCTS_HPP

#include "detail/bf16_products.hpp"

#endif  // SEQ2SEQ_BF16_PRODUCTS_HPP
