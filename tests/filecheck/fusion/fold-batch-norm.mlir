// fold-batch-norm: a per-channel constant MUL (then ADD) after a float conv-like op goes
// into its weights and bias. With RELU on the conv only a MUL by positive scales folds.
// It must not fire for a negative scale after RELU, a RELU6 conv, quantized weights or a
// non-constant scale. A conv in NCHW (`litec.layout`) folds a scale along its channel
// axis ([C, 1, 1]) but not one along W ([C] broadcasts to the last axis). A bias whose
// length is not the channel count is an error.
// RUN: litec opt %s -p fold-batch-norm --no-resources | filecheck %s
// RUN: sed -n 's|^// BAD: ||p' %s > %t.bad.mlir
// RUN: not litec opt %t.bad.mlir -p fold-batch-norm 2>&1 | filecheck %s --check-prefix=ERR

builtin.module {
  func.func @mul_add(%x: tensor<1x2x2x1xf32>) -> tensor<1x2x2x2xf32> {
    %w = tfl.const dense_resource<fbn_w> : tensor<2x1x1x1xf32>
    %b = tfl.const dense_resource<fbn_neg> : tensor<2xf32>
    %s = tfl.const dense_resource<fbn_pos> : tensor<2xf32>
    %t = tfl.const dense_resource<fbn_neg> : tensor<1x1x1x2xf32>
    %y = tfl.conv_2d %x, %w, %b {padding = "VALID", stride_h = 1 : i32, stride_w = 1 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE"} : (tensor<1x2x2x1xf32>, tensor<2x1x1x1xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32> loc("conv"("m.tflite":2:0))
    %m = tfl.mul %s, %y {fused_activation_function = "NONE"} : (tensor<2xf32>, tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
    %z = tfl.add %m, %t {fused_activation_function = "RELU6"} : (tensor<1x2x2x2xf32>, tensor<1x1x1x2xf32>) -> tensor<1x2x2x2xf32>
    func.return %z : tensor<1x2x2x2xf32>
  }
  func.func @relu_positive_scale(%x: tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32> {
    %w = tfl.const dense_resource<fbn_w> : tensor<1x1x1x2xf32>
    %none = tfl.no_value : none
    %s = tfl.const dense_resource<fbn_pos> : tensor<2xf32>
    %y = tfl.depthwise_conv_2d %x, %w, %none {padding = "VALID", stride_h = 1 : i32, stride_w = 1 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, depth_multiplier = 1 : i32, fused_activation_function = "RELU"} : (tensor<1x2x2x2xf32>, tensor<1x1x1x2xf32>, none) -> tensor<1x2x2x2xf32>
    %m = tfl.mul %y, %s {fused_activation_function = "NONE"} : (tensor<1x2x2x2xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
    func.return %m : tensor<1x2x2x2xf32>
  }
  func.func @not_folded(%x: tensor<1x2x2x1xf32>, %xq: tensor<1x2x2x1x!quant.uniform<i8:f32, 0.5:-3>>, %v: tensor<2xf32>) -> (tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>, tensor<1x2x2x2x!quant.uniform<i8:f32, 0.25:7>>, tensor<1x2x2x2xf32>) {
    %w = tfl.const dense_resource<fbn_w> : tensor<2x1x1x1xf32>
    %wq = tfl.const dense_resource<fbn_q> : tensor<2x1x1x1x!quant.uniform<i8:f32, 0.125:0>>
    %none = tfl.no_value : none
    %pos = tfl.const dense_resource<fbn_pos> : tensor<2xf32>
    %neg = tfl.const dense_resource<fbn_neg> : tensor<2xf32>
    %sq = tfl.const dense_resource<fbn_q> : tensor<2x!quant.uniform<i8:f32, 0.5:0>>
    // a negative scale after RELU
    %a = tfl.conv_2d %x, %w, %none {padding = "VALID", stride_h = 1 : i32, stride_w = 1 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "RELU"} : (tensor<1x2x2x1xf32>, tensor<2x1x1x1xf32>, none) -> tensor<1x2x2x2xf32>
    %a1 = tfl.mul %a, %neg {fused_activation_function = "NONE"} : (tensor<1x2x2x2xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
    // RELU6 does not scale
    %b = tfl.conv_2d %x, %w, %none {padding = "VALID", stride_h = 1 : i32, stride_w = 1 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "RELU6"} : (tensor<1x2x2x1xf32>, tensor<2x1x1x1xf32>, none) -> tensor<1x2x2x2xf32>
    %b1 = tfl.mul %b, %pos {fused_activation_function = "NONE"} : (tensor<1x2x2x2xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
    // quantized
    %q = tfl.conv_2d %xq, %wq, %none {padding = "VALID", stride_h = 1 : i32, stride_w = 1 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE"} : (tensor<1x2x2x1x!quant.uniform<i8:f32, 0.5:-3>>, tensor<2x1x1x1x!quant.uniform<i8:f32, 0.125:0>>, none) -> tensor<1x2x2x2x!quant.uniform<i8:f32, 0.25:7>>
    %q1 = tfl.mul %q, %sq {fused_activation_function = "NONE"} : (tensor<1x2x2x2x!quant.uniform<i8:f32, 0.25:7>>, tensor<2x!quant.uniform<i8:f32, 0.5:0>>) -> tensor<1x2x2x2x!quant.uniform<i8:f32, 0.25:7>>
    // a scale that is not a constant
    %c = tfl.conv_2d %x, %w, %none {padding = "VALID", stride_h = 1 : i32, stride_w = 1 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE"} : (tensor<1x2x2x1xf32>, tensor<2x1x1x1xf32>, none) -> tensor<1x2x2x2xf32>
    %c1 = tfl.mul %c, %v {fused_activation_function = "NONE"} : (tensor<1x2x2x2xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
    func.return %a1, %b1, %q1, %c1 : tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>, tensor<1x2x2x2x!quant.uniform<i8:f32, 0.25:7>>, tensor<1x2x2x2xf32>
  }
  func.func @nchw(%x: tensor<1x1x2x2xf32>) -> (tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>) {
    %w = tfl.const dense_resource<fbn_w> : tensor<2x1x1x1xf32>
    %none = tfl.no_value : none
    %c = tfl.const dense_resource<fbn_pos> : tensor<2x1x1xf32>
    %v = tfl.const dense_resource<fbn_pos> : tensor<2xf32>
    %y = tfl.conv_2d %x, %w, %none {litec.layout = "NCHW", padding = "VALID", stride_h = 1 : i32, stride_w = 1 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE"} : (tensor<1x1x2x2xf32>, tensor<2x1x1x1xf32>, none) -> tensor<1x2x2x2xf32>
    %m = tfl.mul %y, %c {fused_activation_function = "NONE"} : (tensor<1x2x2x2xf32>, tensor<2x1x1xf32>) -> tensor<1x2x2x2xf32>
    // along W, not the channels
    %k = tfl.conv_2d %x, %w, %none {litec.layout = "NCHW", padding = "VALID", stride_h = 1 : i32, stride_w = 1 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE"} : (tensor<1x1x2x2xf32>, tensor<2x1x1x1xf32>, none) -> tensor<1x2x2x2xf32>
    %k1 = tfl.mul %k, %v {fused_activation_function = "NONE"} : (tensor<1x2x2x2xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
    func.return %m, %k1 : tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>
  }
}

{-#
  dialect_resources: {
    builtin: {
      fbn_w: "0x040000000000c03f000000c0",
      fbn_pos: "0x040000000000003f00000040",
      fbn_neg: "0x040000000000803e000000bf",
      fbn_q: "0x0400000003fb"
    }
  }
#-}

// CHECK-LABEL: func.func @mul_add
// CHECK-NOT:     tfl.mul
// CHECK:         %[[W:.*]] = tfl.const dense_resource<fbn_w_scaled> : tensor<2x1x1x1xf32>
// CHECK:         %[[B:.*]] = tfl.const dense_resource<fbn_w_scaled_bias> : tensor<2xf32>
// CHECK-NOT:     tfl.mul
// CHECK-NOT:     tfl.add
// CHECK:         %[[Y:.*]] = tfl.conv_2d %x, %[[W]], %[[B]] {{{.*}}fused_activation_function = "RELU6"{{.*}} loc("conv"("m.tflite":2:0))
// CHECK-NEXT:    func.return %[[Y]]
// CHECK-LABEL: func.func @relu_positive_scale
// CHECK:         %[[W:.*]] = tfl.const dense_resource<fbn_w_scaled{{.*}}> : tensor<1x1x1x2xf32>
// CHECK-NEXT:    %[[Y:.*]] = tfl.depthwise_conv_2d %x, %[[W]], %none {{{.*}}fused_activation_function = "RELU"
// CHECK-NEXT:    func.return %[[Y]]
// CHECK-LABEL: func.func @not_folded
// CHECK:         tfl.conv_2d {{.*}}"RELU"
// CHECK-NEXT:    tfl.mul
// CHECK-NEXT:    tfl.conv_2d {{.*}}"RELU6"
// CHECK-NEXT:    tfl.mul
// CHECK-NEXT:    tfl.conv_2d {{.*}}"NONE"
// CHECK-NEXT:    tfl.mul
// CHECK-NEXT:    tfl.conv_2d {{.*}}"NONE"
// CHECK-NEXT:    tfl.mul
// CHECK-LABEL: func.func @nchw
// CHECK:         %[[W:.*]] = tfl.const dense_resource<fbn_w_scaled{{.*}}> : tensor<2x1x1x1xf32>
// CHECK-NEXT:    %[[Y:.*]] = tfl.conv_2d %x, %[[W]], %none {litec.layout = "NCHW"
// CHECK-NEXT:    %[[K:.*]] = tfl.conv_2d %x, %w, %none {litec.layout = "NCHW"
// CHECK-NEXT:    %[[K1:.*]] = tfl.mul %[[K]], %v
// CHECK-NEXT:    func.return %[[Y]], %[[K1]]

// BAD: builtin.module {
// BAD:   func.func @main(%x: tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32> {
// BAD:     %w = tfl.const dense_resource<fbn_bad_w> : tensor<1x1x1x2xf32>
// BAD:     %b = tfl.const dense_resource<fbn_bad_b> : tensor<3xf32>
// BAD:     %s = tfl.const dense_resource<fbn_bad_w> : tensor<2xf32>
// BAD:     %y = tfl.depthwise_conv_2d %x, %w, %b {padding = "VALID", stride_h = 1 : i32, stride_w = 1 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, depth_multiplier = 1 : i32, fused_activation_function = "NONE"} : (tensor<1x2x2x2xf32>, tensor<1x1x1x2xf32>, tensor<3xf32>) -> tensor<1x2x2x2xf32> loc("dw"("m.tflite":5:0))
// BAD:     %z = tfl.mul %y, %s {fused_activation_function = "NONE"} : (tensor<1x2x2x2xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
// BAD:     func.return %z : tensor<1x2x2x2xf32>
// BAD:   }
// BAD: }
// BAD: {-#
// BAD:   dialect_resources: { builtin: {
// BAD:     fbn_bad_w: "0x040000000000c03f000000c0",
// BAD:     fbn_bad_b: "0x040000000000803f0000004000004040"
// BAD:   } }
// BAD: #-}

// ERR: litec: error: m.tflite: op #5 DEPTHWISE_CONV_2D: bias of shape [3] for 2 output channels
