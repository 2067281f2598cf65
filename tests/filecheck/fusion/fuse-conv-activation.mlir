// fuse-conv-activation: a per-channel constant ADD/SUB after a float conv-like op goes
// into its bias (created when absent, added to when present), and a following ReLU-family
// activation into its fused activation (quantized: only when the activation's input and
// output quantization are equal). It must not fire when the conv already has an
// activation, its result has another use, the constant is not per channel, the
// activation would requantize, or TANH would be ignored by the kernel. A conv in NCHW
// (`litec.layout`) takes an ADD along its channel axis ([C, 1, 1]) into its bias, not one
// along W ([C] broadcasts to the last axis). A bias whose length is not the channel count
// is an error naming the op. A conv in a blocked layout (`NHWC2c`, channels over two axes)
// keeps its per-channel ADD, and takes its activation.
// RUN: litec opt %s -p fuse-conv-activation --no-resources | filecheck %s
// RUN: sed -n 's|^// BAD: ||p' %s > %t.bad.mlir
// RUN: not litec opt %t.bad.mlir -p fuse-conv-activation 2>&1 | filecheck %s --check-prefix=ERR

builtin.module {
  func.func @conv_add_relu6(%x: tensor<1x2x2x1xf32>) -> tensor<1x2x2x2xf32> {
    %w = tfl.const dense_resource<fca_w> : tensor<2x1x1x1xf32>
    %none = tfl.no_value : none
    %c = tfl.const dense_resource<fca_c> : tensor<2xf32>
    %y = tfl.conv_2d %x, %w, %none {padding = "VALID", stride_h = 1 : i32, stride_w = 1 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE"} : (tensor<1x2x2x1xf32>, tensor<2x1x1x1xf32>, none) -> tensor<1x2x2x2xf32> loc("conv"("m.tflite":3:0))
    %z = tfl.add %y, %c {fused_activation_function = "NONE"} : (tensor<1x2x2x2xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32> loc("add"("m.tflite":4:0))
    %r = tfl.relu6 %z : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32> loc("relu6"("m.tflite":5:0))
    func.return %r : tensor<1x2x2x2xf32>
  }
  func.func @fc_bias_sub_relu(%x: tensor<1x3xf32>) -> tensor<1x2xf32> {
    %w = tfl.const dense_resource<fca_fc> : tensor<2x3xf32>
    %b = tfl.const dense_resource<fca_c> : tensor<2xf32>
    %c = tfl.const dense_resource<fca_one> : tensor<1xf32>
    %y = tfl.fully_connected %x, %w, %b {fused_activation_function = "NONE", weights_format = "DEFAULT", keep_num_dims = false, asymmetric_quantize_inputs = false} : (tensor<1x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<1x2xf32>
    %z = tfl.sub %y, %c {fused_activation_function = "RELU"} : (tensor<1x2xf32>, tensor<1xf32>) -> tensor<1x2xf32>
    func.return %z : tensor<1x2xf32>
  }
  func.func @quantized_relu(%x: tensor<1x2x2x1x!quant.uniform<i8:f32, 0.5:-3>>) -> tensor<1x2x2x2x!quant.uniform<i8:f32, 0.25:7>> {
    %w = tfl.const dense_resource<fca_q> : tensor<2x1x1x1x!quant.uniform<i8:f32, 0.125:0>>
    %none = tfl.no_value : none
    %y = tfl.conv_2d %x, %w, %none {padding = "VALID", stride_h = 1 : i32, stride_w = 1 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE"} : (tensor<1x2x2x1x!quant.uniform<i8:f32, 0.5:-3>>, tensor<2x1x1x1x!quant.uniform<i8:f32, 0.125:0>>, none) -> tensor<1x2x2x2x!quant.uniform<i8:f32, 0.25:7>>
    %r = tfl.relu %y : (tensor<1x2x2x2x!quant.uniform<i8:f32, 0.25:7>>) -> tensor<1x2x2x2x!quant.uniform<i8:f32, 0.25:7>>
    func.return %r : tensor<1x2x2x2x!quant.uniform<i8:f32, 0.25:7>>
  }
  func.func @not_fused(%x: tensor<1x2x2x1xf32>, %xq: tensor<1x2x2x1x!quant.uniform<i8:f32, 0.5:-3>>) -> (tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>, tensor<1x2x2x2x!quant.uniform<i8:f32, 0.5:7>>, tensor<1x2x2x2xf32>) {
    %w = tfl.const dense_resource<fca_w> : tensor<2x1x1x1xf32>
    %wq = tfl.const dense_resource<fca_q> : tensor<2x1x1x1x!quant.uniform<i8:f32, 0.125:0>>
    %none = tfl.no_value : none
    %c = tfl.const dense_resource<fca_c> : tensor<2xf32>
    %spatial = tfl.const dense_resource<fca_c> : tensor<1x1x2x1xf32>
    // already activated
    %a = tfl.conv_2d %x, %w, %none {padding = "VALID", stride_h = 1 : i32, stride_w = 1 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "RELU"} : (tensor<1x2x2x1xf32>, tensor<2x1x1x1xf32>, none) -> tensor<1x2x2x2xf32>
    %a1 = tfl.relu6 %a : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
    %a2 = tfl.add %a, %c {fused_activation_function = "NONE"} : (tensor<1x2x2x2xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
    // a constant that varies along W
    %s = tfl.conv_2d %x, %w, %none {padding = "VALID", stride_h = 1 : i32, stride_w = 1 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE"} : (tensor<1x2x2x1xf32>, tensor<2x1x1x1xf32>, none) -> tensor<1x2x2x2xf32>
    %s1 = tfl.add %s, %spatial {fused_activation_function = "NONE"} : (tensor<1x2x2x2xf32>, tensor<1x1x2x1xf32>) -> tensor<1x2x2x2xf32>
    // another use
    %m = tfl.conv_2d %x, %w, %none {padding = "VALID", stride_h = 1 : i32, stride_w = 1 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE"} : (tensor<1x2x2x1xf32>, tensor<2x1x1x1xf32>, none) -> tensor<1x2x2x2xf32>
    %m1 = tfl.relu %m : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
    // the activation requantizes
    %q = tfl.conv_2d %xq, %wq, %none {padding = "VALID", stride_h = 1 : i32, stride_w = 1 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE"} : (tensor<1x2x2x1x!quant.uniform<i8:f32, 0.5:-3>>, tensor<2x1x1x1x!quant.uniform<i8:f32, 0.125:0>>, none) -> tensor<1x2x2x2x!quant.uniform<i8:f32, 0.25:7>>
    %q1 = tfl.relu %q : (tensor<1x2x2x2x!quant.uniform<i8:f32, 0.25:7>>) -> tensor<1x2x2x2x!quant.uniform<i8:f32, 0.5:7>>
    // TANH: CONV_2D would ignore it
    %t = tfl.conv_2d %x, %w, %none {padding = "VALID", stride_h = 1 : i32, stride_w = 1 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE"} : (tensor<1x2x2x1xf32>, tensor<2x1x1x1xf32>, none) -> tensor<1x2x2x2xf32>
    %t1 = tfl.tanh %t : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
    func.return %a1, %a2, %s1, %m1, %m, %q1, %t1 : tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>, tensor<1x2x2x2x!quant.uniform<i8:f32, 0.5:7>>, tensor<1x2x2x2xf32>
  }
  func.func @nchw(%x: tensor<1x1x2x2xf32>) -> (tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>) {
    %w = tfl.const dense_resource<fca_w> : tensor<2x1x1x1xf32>
    %none = tfl.no_value : none
    %c = tfl.const dense_resource<fca_c> : tensor<2x1x1xf32>
    %v = tfl.const dense_resource<fca_c> : tensor<2xf32>
    %y = tfl.conv_2d %x, %w, %none {litec.layout = "NCHW", padding = "VALID", stride_h = 1 : i32, stride_w = 1 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE"} : (tensor<1x1x2x2xf32>, tensor<2x1x1x1xf32>, none) -> tensor<1x2x2x2xf32>
    %z = tfl.add %y, %c {fused_activation_function = "RELU"} : (tensor<1x2x2x2xf32>, tensor<2x1x1xf32>) -> tensor<1x2x2x2xf32>
    // along W, not the channels
    %k = tfl.conv_2d %x, %w, %none {litec.layout = "NCHW", padding = "VALID", stride_h = 1 : i32, stride_w = 1 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE"} : (tensor<1x1x2x2xf32>, tensor<2x1x1x1xf32>, none) -> tensor<1x2x2x2xf32>
    %k1 = tfl.add %k, %v {fused_activation_function = "NONE"} : (tensor<1x2x2x2xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
    func.return %z, %k1 : tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>
  }
  func.func @blocked(%x: tensor<1x2x2x1x2xf32>, %w: tensor<2x1x1x2xf32>) -> (tensor<1x2x2x1x2xf32>, tensor<1x2x2x1x2xf32>) {
    %none = tfl.no_value : none
    %c = tfl.const dense_resource<fca_c> : tensor<1x1x1x1x2xf32>
    %y = tfl.conv_2d %x, %w, %none {litec.layout = "NHWC2c", padding = "VALID", stride_h = 1 : i32, stride_w = 1 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE"} : (tensor<1x2x2x1x2xf32>, tensor<2x1x1x2xf32>, none) -> tensor<1x2x2x1x2xf32>
    %z = tfl.add %y, %c {fused_activation_function = "NONE"} : (tensor<1x2x2x1x2xf32>, tensor<1x1x1x1x2xf32>) -> tensor<1x2x2x1x2xf32>
    %k = tfl.conv_2d %x, %w, %none {litec.layout = "NHWC2c", padding = "VALID", stride_h = 1 : i32, stride_w = 1 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE"} : (tensor<1x2x2x1x2xf32>, tensor<2x1x1x2xf32>, none) -> tensor<1x2x2x1x2xf32>
    %r = tfl.relu %k : (tensor<1x2x2x1x2xf32>) -> tensor<1x2x2x1x2xf32>
    func.return %z, %r : tensor<1x2x2x1x2xf32>, tensor<1x2x2x1x2xf32>
  }
}

{-#
  dialect_resources: {
    builtin: {
      fca_w: "0x040000000000c03f000000c0",
      fca_c: "0x040000000000803e000000bf",
      fca_one: "0x040000000000803f",
      fca_q: "0x0400000003fb",
      fca_fc: "0x040000000000c03f000000c00000003f0000803f00000040000080bf"
    }
  }
#-}

// CHECK-LABEL: func.func @conv_add_relu6
// CHECK-NEXT:    %{{.*}} = tfl.const dense_resource<fca_w>
// CHECK-NEXT:    %[[B:.*]] = tfl.const dense_resource<fca_w_bias> : tensor<2xf32>
// CHECK-NEXT:    %[[Y:.*]] = tfl.conv_2d %x, %{{.*}}, %[[B]] {{{.*}}fused_activation_function = "RELU6"{{.*}}} : {{.*}} loc("conv"("m.tflite":3:0))
// CHECK-NEXT:    func.return %[[Y]]
// CHECK-LABEL: func.func @fc_bias_sub_relu
// CHECK-NOT:     tfl.sub
// CHECK:         %[[B:.*]] = tfl.const dense_resource<fca_fc_bias> : tensor<2xf32>
// CHECK-NEXT:    tfl.fully_connected %x, %{{.*}}, %[[B]] {fused_activation_function = "RELU"
// CHECK-NOT:     tfl.sub
// CHECK-LABEL: func.func @quantized_relu
// CHECK:         tfl.conv_2d {{.*}}fused_activation_function = "RELU"
// CHECK-NOT:     tfl.relu
// CHECK-LABEL: func.func @not_fused
// CHECK:         tfl.conv_2d {{.*}}"RELU"
// CHECK-NEXT:    tfl.relu6
// CHECK-NEXT:    tfl.add
// CHECK-NEXT:    tfl.conv_2d {{.*}}"NONE"
// CHECK-NEXT:    tfl.add
// CHECK-NEXT:    tfl.conv_2d {{.*}}"NONE"
// CHECK-NEXT:    tfl.relu
// CHECK-NEXT:    tfl.conv_2d {{.*}}"NONE"
// CHECK-NEXT:    tfl.relu
// CHECK-NEXT:    tfl.conv_2d {{.*}}"NONE"
// CHECK-NEXT:    tfl.tanh
// CHECK-LABEL: func.func @nchw
// CHECK:         %[[B:.*]] = tfl.const dense_resource<fca_w_bias{{.*}}> : tensor<2xf32>
// CHECK-NEXT:    %[[Y:.*]] = tfl.conv_2d %x, %w, %[[B]] {litec.layout = "NCHW", {{.*}}fused_activation_function = "RELU"
// CHECK-NEXT:    %[[K:.*]] = tfl.conv_2d %x, %w, %none {litec.layout = "NCHW"
// CHECK-NEXT:    %[[K1:.*]] = tfl.add %[[K]], %v
// CHECK-NEXT:    func.return %[[Y]], %[[K1]]
// CHECK-LABEL: func.func @blocked
// CHECK:         %[[Y:.*]] = tfl.conv_2d %x, %w, %none {litec.layout = "NHWC2c", {{.*}}fused_activation_function = "NONE"
// CHECK-NEXT:    %[[Z:.*]] = tfl.add %[[Y]], %c
// CHECK-NEXT:    %[[K:.*]] = tfl.conv_2d %x, %w, %none {litec.layout = "NHWC2c", {{.*}}fused_activation_function = "RELU"
// CHECK-NEXT:    func.return %[[Z]], %[[K]]

// BAD: builtin.module {
// BAD:   func.func @main(%x: tensor<1x2x2x1xf32>) -> tensor<1x2x2x2xf32> {
// BAD:     %w = tfl.const dense_resource<fca_bad_w> : tensor<2x1x1x1xf32>
// BAD:     %b = tfl.const dense_resource<fca_bad_b> : tensor<1xf32>
// BAD:     %c = tfl.const dense_resource<fca_bad_b> : tensor<1xf32>
// BAD:     %y = tfl.conv_2d %x, %w, %b {padding = "VALID", stride_h = 1 : i32, stride_w = 1 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE"} : (tensor<1x2x2x1xf32>, tensor<2x1x1x1xf32>, tensor<1xf32>) -> tensor<1x2x2x2xf32> loc("conv"("m.tflite":7:0))
// BAD:     %z = tfl.add %y, %c {fused_activation_function = "NONE"} : (tensor<1x2x2x2xf32>, tensor<1xf32>) -> tensor<1x2x2x2xf32>
// BAD:     func.return %z : tensor<1x2x2x2xf32>
// BAD:   }
// BAD: }
// BAD: {-#
// BAD:   dialect_resources: { builtin: {
// BAD:     fca_bad_w: "0x040000000000c03f000000c0",
// BAD:     fca_bad_b: "0x040000000000803f"
// BAD:   } }
// BAD: #-}

// ERR: litec: error: m.tflite: op #7 CONV_2D: bias of shape [1] for 2 output channels
