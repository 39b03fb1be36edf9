// seq2seq: the number formats a model's weights can be multiplied in when it translates.
#ifndef SEQ2SEQ_PRECISION_HPP
#define SEQ2SEQ_PRECISION_HPP

#include <stdexcept>
#include <string>

namespace seq2seq {

/// How the weights of decoding's matrix products are stored (Seq2Seq::set_precision,
/// io::load_model(path, precision)). Training, score() and evaluate() always use the model's own
/// Scalar parameters; the recurrence state (h, c, gates), biases and peepholes stay in Scalar in
/// every format.
///   float32  the parameters themselves (Scalar = float or double), no copy
///   bf16     bfloat16 copies of every LSTM W and U, the softmax W and both embeddings; the
///            activations are rounded to bf16 before each product, which accumulates in float
///            (AVX512_BF16 vdpbf16ps where the CPU has it)
///   int8     int8 copies with one scale per output row (per word for the embeddings); the
///            activations are quantized per column to u8 (scale max|x| / 127, zero point 128) and
///            the products are u8 x s8 -> s32 (AVX512_VNNI vpdpbusd, or oneDNN's gemm_u8s8s32)
/// detail/lowp_gemm.hpp holds the formats, detail/lowp_tiles.hpp the kernels.
enum class Precision { float32, bf16, int8 };

/// "float", "bf16" or "int8".
inline const char* precision_name(Precision p) {
  switch (p) {
    case Precision::float32: return "float";
    case Precision::bf16: return "bf16";
    case Precision::int8: return "int8";
  }
  return "?";
}

/// The Precision named "float" (or "float32", "fp32"), "bf16" or "int8"; anything else throws
/// std::invalid_argument naming the choices.
inline Precision parse_precision(const std::string& name) {
  if (name == "float" || name == "float32" || name == "fp32") return Precision::float32;
  if (name == "bf16" || name == "bfloat16") return Precision::bf16;
  if (name == "int8") return Precision::int8;
  throw std::invalid_argument("seq2seq: unknown precision '" + name + "' (float, bf16 or int8)");
}

}  // namespace seq2seq

#endif  // SEQ2SEQ_PRECISION_HPP
