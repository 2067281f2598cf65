// fold-constants: an op whose operands are all constants becomes a constant computed by its
// reference kernel (DEQUANTIZE of float16 weights, QUANTIZE, shape arithmetic), stored in a
// blob named by its content. Kept: ops with a computed operand, CUSTOM ops, results above
// max_bytes, results a function returns, ops in NCHW (`litec.layout`). A negative max_bytes and a kernel that rejects its
// constants are one-line errors (the ERR run uncomments the case at the end).
// RUN: litec opt %s -p fold-constants | filecheck %s
// RUN: litec opt %s -p 'fold-constants{max_bytes=8}' | filecheck %s --check-prefix=SMALL
// RUN: not litec opt %s -p 'fold-constants{max_bytes=-1}' 2>&1 | filecheck %s --check-prefix=OPT
// RUN: sed -n 's|^// BAD: ||p' %s > %t.bad.mlir
// RUN: not litec opt %t.bad.mlir -p fold-constants 2>&1 | filecheck %s --check-prefix=ERR

builtin.module {
  func.func @main(%x: tensor<2x2xf32>, %n: tensor<1xi32>) -> (tensor<2x2xf32>, tensor<4xi8>, tensor<1xi32>) {
    %half = tfl.const dense_resource<fc_half> : tensor<4xf16> loc("w")
    %w = tfl.dequantize %half : (tensor<4xf16>) -> tensor<4xf32> loc("w_f32"("m.tflite":0:0))
    %shape = tfl.const dense_resource<fc_shape22> : tensor<2xi32>
    %w22 = tfl.reshape %w, %shape : (tensor<4xf32>, tensor<2xi32>) -> tensor<2x2xf32> loc("w22"("m.tflite":1:0))
    %y = tfl.add %x, %w22 {fused_activation_function = "NONE"} : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
    %f = tfl.const dense_resource<fc_f32> : tensor<4xf32>
    %q = tfl.quantize %f : (tensor<4xf32>) -> tensor<4x!quant.uniform<i8:f32, 0.5:0>>
    %qi = tfl.relu6 %q : (tensor<4x!quant.uniform<i8:f32, 0.5:0>>) -> tensor<4x!quant.uniform<i8:f32, 0.5:0>>
    %raw = tfl.cast %qi : (tensor<4x!quant.uniform<i8:f32, 0.5:0>>) -> tensor<4xi8>
    %three = tfl.const dense_resource<fc_three> : tensor<1xi32>
    %four = tfl.const dense_resource<fc_four> : tensor<1xi32>
    %seven = tfl.add %three, %four {fused_activation_function = "NONE"} : (tensor<1xi32>, tensor<1xi32>) -> tensor<1xi32>
    %m = tfl.mul %n, %seven {fused_activation_function = "NONE"} : (tensor<1xi32>, tensor<1xi32>) -> tensor<1xi32>
    func.return %y, %raw, %m : tensor<2x2xf32>, tensor<4xi8>, tensor<1xi32>
  }
  func.func @kept(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
    %half = tfl.const dense_resource<fc_half> : tensor<4xf16>
    %w = tfl.dequantize %half : (tensor<4xf16>) -> tensor<4xf32>
    %f = tfl.const dense_resource<fc_f32> : tensor<4xf32>
    %c = tfl.custom %f {custom_code = "NoSuchOp"} : (tensor<4xf32>) -> tensor<4xf32>
    %y = tfl.add %x, %f {fused_activation_function = "NONE"} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    func.return %w, %c, %y : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  }
  func.func @kept_nchw(%x: tensor<1x1x1x1xf32>) -> tensor<1x1x1x1xf32> {
    %f = tfl.const dense_resource<fc_f32> : tensor<1x1x2x2xf32>
    %p = tfl.max_pool_2d %f {litec.layout = "NCHW", filter_height = 2 : i32, filter_width = 2 : i32, fused_activation_function = "NONE", padding = "VALID", stride_h = 2 : i32, stride_w = 2 : i32} : (tensor<1x1x2x2xf32>) -> tensor<1x1x1x1xf32>
    %y = tfl.add %x, %p {fused_activation_function = "NONE"} : (tensor<1x1x1x1xf32>, tensor<1x1x1x1xf32>) -> tensor<1x1x1x1xf32>
    func.return %y : tensor<1x1x1x1xf32>
  }
}

{-#
  dialect_resources: {
    builtin: {
      fc_half: "0x40000000003c00c100380042",
      fc_f32: "0x400000000000803f000020c00000003f00004040",
      fc_shape22: "0x400000000200000002000000",
      fc_three: "0x4000000003000000",
      fc_four: "0x4000000004000000"
    }
  }
#-}

// BAD: builtin.module {
// BAD:   func.func @gather(%x: tensor<1xf32>) -> tensor<1xf32> {
// BAD:     %p = tfl.const dense_resource<fc_half> : tensor<4xf16>
// BAD:     %i = tfl.const dense_resource<fc_idx5> : tensor<1xi32>
// BAD:     %g = tfl.gather %p, %i {axis = 0 : i32, batch_dims = 0 : i32} : (tensor<4xf16>, tensor<1xi32>) -> tensor<1xf16> loc("g"("m.tflite":3:0))
// BAD:     %d = tfl.dequantize %g : (tensor<1xf16>) -> tensor<1xf32>
// BAD:     %y = tfl.add %x, %d {fused_activation_function = "NONE"} : (tensor<1xf32>, tensor<1xf32>) -> tensor<1xf32>
// BAD:     func.return %y : tensor<1xf32>
// BAD:   }
// BAD: }
// BAD: {-#
// BAD:   dialect_resources: { builtin: { fc_half: "0x40000000003c00c100380042", fc_idx5: "0x4000000005000000" } }
// BAD: #-}

// CHECK-LABEL: func.func @main
// CHECK-NEXT:  %[[W:.*]] = tfl.const dense_resource<[[W_DATA:folded_[0-9a-f]+]]> : tensor<2x2xf32> loc("w22")
// CHECK-NEXT:  tfl.add %x, %[[W]]
// CHECK-NEXT:  %[[Q:.*]] = tfl.const dense_resource<[[Q_DATA:folded_[0-9a-f]+]]> : tensor<4x!quant.uniform<i8:f32, 0.5:0>>
// CHECK-NEXT:  tfl.cast %[[Q]]
// CHECK-NEXT:  %[[SEVEN:.*]] = tfl.const dense_resource<[[SEVEN_DATA:folded_[0-9a-f]+]]> : tensor<1xi32>
// CHECK-NEXT:  tfl.mul %n, %[[SEVEN]]
// CHECK-LABEL: func.func @kept
// CHECK:       tfl.dequantize
// CHECK:       tfl.custom
// CHECK:       tfl.add %x
// CHECK-LABEL: func.func @kept_nchw
// CHECK:       tfl.max_pool_2d %f {litec.layout = "NCHW"
// CHECK-DAG:   [[W_DATA]]: "0x400000000000803f000020c00000003f00004040"
// CHECK-DAG:   [[Q_DATA]]: "0x4000000002000106"
// CHECK-DAG:   [[SEVEN_DATA]]: "0x4000000007000000"

// SMALL-LABEL: func.func @main
// SMALL:       tfl.dequantize
// SMALL:       tfl.reshape
// SMALL-NOT:   tfl.relu6
// SMALL-NOT:   tfl.add %{{.*}}, %{{.*}} : (tensor<1xi32>

// OPT: litec: error: fold-constants: max_bytes must be 0 or more, not -1

// ERR: litec: error: m.tflite: op #3 GATHER: GATHER index out of range [0, 4)
