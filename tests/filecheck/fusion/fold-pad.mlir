// fold-pad: a PAD / PADV2 feeding a VALID conv or depthwise conv becomes the conv's SAME
// padding when it adds exactly what SAME adds (stride 2 on 8: nothing before, one after)
// and pads with 0.0 / the zero point. It must not fire for other amounts (Keras-style
// symmetric padding before a stride-2 conv), another pad value, or a conv that is SAME
// already. A conv in NCHW (`litec.layout`) takes SAME's padding on its axes 2 and 3, not a
// PAD of its axes 1 and 2, also from a PAD in NHWC that it reads through a transpose. A padding constant of the wrong shape is an error naming the PAD.
// RUN: litec opt %s -p fold-pad --no-resources | filecheck %s
// RUN: sed -n 's|^// BAD: ||p' %s > %t.bad.mlir
// RUN: not litec opt %t.bad.mlir -p fold-pad 2>&1 | filecheck %s --check-prefix=ERR

builtin.module {
  func.func @stride2(%x: tensor<1x8x8x1xf32>) -> tensor<1x4x4x1xf32> {
    %pads = tfl.const dense_resource<fp_p01> : tensor<4x2xi32>
    %w = tfl.const dense_resource<fp_w9> : tensor<1x3x3x1xf32>
    %none = tfl.no_value : none
    %p = tfl.pad %x, %pads : (tensor<1x8x8x1xf32>, tensor<4x2xi32>) -> tensor<1x9x9x1xf32> loc("pad"("m.tflite":0:0))
    %y = tfl.conv_2d %p, %w, %none {padding = "VALID", stride_h = 2 : i32, stride_w = 2 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE"} : (tensor<1x9x9x1xf32>, tensor<1x3x3x1xf32>, none) -> tensor<1x4x4x1xf32> loc("conv"("m.tflite":1:0))
    func.return %y : tensor<1x4x4x1xf32>
  }
  func.func @quantized_padv2(%x: tensor<1x4x4x2x!quant.uniform<i8:f32, 0.5:-3>>) -> tensor<1x4x4x2x!quant.uniform<i8:f32, 0.25:1>> {
    %pads = tfl.const dense_resource<fp_p11> : tensor<4x2xi32>
    %zp = tfl.const dense_resource<fp_zp> : tensor<1x!quant.uniform<i8:f32, 0.5:-3>>
    %w = tfl.const dense_resource<fp_qw> : tensor<1x3x3x2x!quant.uniform<i8:f32, 0.125:0>>
    %none = tfl.no_value : none
    %p = tfl.padv2 %x, %pads, %zp : (tensor<1x4x4x2x!quant.uniform<i8:f32, 0.5:-3>>, tensor<4x2xi32>, tensor<1x!quant.uniform<i8:f32, 0.5:-3>>) -> tensor<1x6x6x2x!quant.uniform<i8:f32, 0.5:-3>>
    %y = tfl.depthwise_conv_2d %p, %w, %none {padding = "VALID", stride_h = 1 : i32, stride_w = 1 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, depth_multiplier = 1 : i32, fused_activation_function = "RELU"} : (tensor<1x6x6x2x!quant.uniform<i8:f32, 0.5:-3>>, tensor<1x3x3x2x!quant.uniform<i8:f32, 0.125:0>>, none) -> tensor<1x4x4x2x!quant.uniform<i8:f32, 0.25:1>>
    func.return %y : tensor<1x4x4x2x!quant.uniform<i8:f32, 0.25:1>>
  }
  func.func @not_folded(%x: tensor<1x8x8x1xf32>) -> (tensor<1x4x4x1xf32>, tensor<1x8x8x1xf32>, tensor<1x10x10x1xf32>) {
    %p11 = tfl.const dense_resource<fp_p11> : tensor<4x2xi32>
    %one = tfl.const dense_resource<fp_one> : tensor<1xf32>
    %w = tfl.const dense_resource<fp_w9> : tensor<1x3x3x1xf32>
    %none = tfl.no_value : none
    // symmetric padding before a stride-2 conv: SAME would pad nothing before
    %a = tfl.pad %x, %p11 : (tensor<1x8x8x1xf32>, tensor<4x2xi32>) -> tensor<1x10x10x1xf32>
    %a1 = tfl.conv_2d %a, %w, %none {padding = "VALID", stride_h = 2 : i32, stride_w = 2 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE"} : (tensor<1x10x10x1xf32>, tensor<1x3x3x1xf32>, none) -> tensor<1x4x4x1xf32>
    // pads with 1.0
    %b = tfl.padv2 %x, %p11, %one : (tensor<1x8x8x1xf32>, tensor<4x2xi32>, tensor<1xf32>) -> tensor<1x10x10x1xf32>
    %b1 = tfl.conv_2d %b, %w, %none {padding = "VALID", stride_h = 1 : i32, stride_w = 1 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE"} : (tensor<1x10x10x1xf32>, tensor<1x3x3x1xf32>, none) -> tensor<1x8x8x1xf32>
    // SAME already
    %c = tfl.pad %x, %p11 : (tensor<1x8x8x1xf32>, tensor<4x2xi32>) -> tensor<1x10x10x1xf32>
    %c1 = tfl.conv_2d %c, %w, %none {padding = "SAME", stride_h = 1 : i32, stride_w = 1 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE"} : (tensor<1x10x10x1xf32>, tensor<1x3x3x1xf32>, none) -> tensor<1x10x10x1xf32>
    func.return %a1, %b1, %c1 : tensor<1x4x4x1xf32>, tensor<1x8x8x1xf32>, tensor<1x10x10x1xf32>
  }
  func.func @nchw(%x: tensor<1x1x8x8xf32>, %n: tensor<1x8x8x1xf32>) -> (tensor<1x1x4x4xf32>, tensor<1x1x4x3xf32>, tensor<1x1x4x4xf32>) {
    %hw = tfl.const dense_resource<fp_p0011> : tensor<4x2xi32>
    %ch = tfl.const dense_resource<fp_p01> : tensor<4x2xi32>
    %w = tfl.const dense_resource<fp_w9> : tensor<1x3x3x1xf32>
    %w2 = tfl.const dense_resource<fp_w18> : tensor<1x3x3x2xf32>
    %none = tfl.no_value : none
    %p = tfl.pad %x, %hw : (tensor<1x1x8x8xf32>, tensor<4x2xi32>) -> tensor<1x1x9x9xf32>
    %y = tfl.conv_2d %p, %w, %none {litec.layout = "NCHW", padding = "VALID", stride_h = 2 : i32, stride_w = 2 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE"} : (tensor<1x1x9x9xf32>, tensor<1x3x3x1xf32>, none) -> tensor<1x1x4x4xf32>
    // pads C and H: SAME's padding in NHWC, not in NCHW
    %q = tfl.pad %x, %ch : (tensor<1x1x8x8xf32>, tensor<4x2xi32>) -> tensor<1x2x9x8xf32>
    %z = tfl.conv_2d %q, %w2, %none {litec.layout = "NCHW", padding = "VALID", stride_h = 2 : i32, stride_w = 2 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE"} : (tensor<1x2x9x8xf32>, tensor<1x3x3x2xf32>, none) -> tensor<1x1x4x3xf32>
    // a PAD in NHWC, through a transpose into NCHW
    %perm = tfl.const dense_resource<fp_nchw> : tensor<4xi32>
    %np = tfl.pad %n, %ch : (tensor<1x8x8x1xf32>, tensor<4x2xi32>) -> tensor<1x9x9x1xf32>
    %nt = tfl.transpose %np, %perm : (tensor<1x9x9x1xf32>, tensor<4xi32>) -> tensor<1x1x9x9xf32> loc("nt"("m.tflite":6:0))
    %v = tfl.conv_2d %nt, %w, %none {litec.layout = "NCHW", padding = "VALID", stride_h = 2 : i32, stride_w = 2 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE"} : (tensor<1x1x9x9xf32>, tensor<1x3x3x1xf32>, none) -> tensor<1x1x4x4xf32>
    func.return %y, %z, %v : tensor<1x1x4x4xf32>, tensor<1x1x4x3xf32>, tensor<1x1x4x4xf32>
  }
}

{-#
  dialect_resources: {
    builtin: {
      fp_nchw: "0x0400000000000000030000000100000002000000",
      fp_p0011: "0x040000000000000000000000000000000000000000000000010000000000000001000000",
      fp_w18: "0x040000000000803f0000803f0000803f0000803f0000803f0000803f0000803f0000803f0000803f0000803f0000803f0000803f0000803f0000803f0000803f0000803f0000803f0000803f",
      fp_p01: "0x040000000000000000000000000000000100000000000000010000000000000000000000",
      fp_p11: "0x040000000000000000000000010000000100000001000000010000000000000000000000",
      fp_w9: "0x04000000000000000000803f0000004000004040000080400000a0400000c0400000e04000000041",
      fp_qw: "0x04000000f7f8f9fafbfcfdfeff000102030405060708",
      fp_one: "0x040000000000803f",
      fp_zp: "0x04000000fd"
    }
  }
#-}

// CHECK-LABEL: func.func @stride2
// CHECK-NOT:     tfl.pad
// CHECK:         %[[Y:.*]] = tfl.conv_2d %x, %w, %none {padding = "SAME", stride_h = 2 : i32{{.*}} : (tensor<1x8x8x1xf32>, tensor<1x3x3x1xf32>, none) -> tensor<1x4x4x1xf32> loc("conv"("m.tflite":1:0))
// CHECK-NEXT:    func.return %[[Y]]
// CHECK-LABEL: func.func @quantized_padv2
// CHECK-NOT:     tfl.padv2
// CHECK:         tfl.depthwise_conv_2d %x, %w, %none {padding = "SAME"
// CHECK-LABEL: func.func @not_folded
// CHECK:         tfl.pad
// CHECK-NEXT:    tfl.conv_2d {{.*}}padding = "VALID"
// CHECK-NEXT:    tfl.padv2
// CHECK-NEXT:    tfl.conv_2d {{.*}}padding = "VALID"
// CHECK-NEXT:    tfl.pad
// CHECK-NEXT:    tfl.conv_2d {{.*}}padding = "SAME"
// CHECK-LABEL: func.func @nchw
// CHECK-NOT:     tfl.pad %x, %hw
// CHECK:         %[[Y:.*]] = tfl.conv_2d %x, %w, %none {litec.layout = "NCHW", padding = "SAME"{{.*}} : (tensor<1x1x8x8xf32>, tensor<1x3x3x1xf32>, none) -> tensor<1x1x4x4xf32>
// CHECK-NEXT:    %[[Q:.*]] = tfl.pad %x, %ch
// CHECK-NEXT:    %[[Z:.*]] = tfl.conv_2d %[[Q]], %w2, %none {litec.layout = "NCHW", padding = "VALID"
// CHECK-NOT:     tfl.pad
// CHECK:         %[[T:.*]] = tfl.transpose %n, %{{.*}} : (tensor<1x8x8x1xf32>, tensor<4xi32>) -> tensor<1x1x8x8xf32> loc("nt"("m.tflite":6:0))
// CHECK-NEXT:    %[[V:.*]] = tfl.conv_2d %[[T]], %w, %none {litec.layout = "NCHW", padding = "SAME"{{.*}} : (tensor<1x1x8x8xf32>, tensor<1x3x3x1xf32>, none) -> tensor<1x1x4x4xf32>
// CHECK-NEXT:    func.return %[[Y]], %[[Z]], %[[V]]

// BAD: builtin.module {
// BAD:   func.func @main(%x: tensor<1x8x8x1xf32>) -> tensor<1x8x8x1xf32> {
// BAD:     %pads = tfl.const dense_resource<fp_bad> : tensor<3x2xi32>
// BAD:     %w = tfl.const dense_resource<fp_bad_w> : tensor<1x3x3x1xf32>
// BAD:     %none = tfl.no_value : none
// BAD:     %p = tfl.pad %x, %pads : (tensor<1x8x8x1xf32>, tensor<3x2xi32>) -> tensor<1x10x10x1xf32> loc("pad"("m.tflite":4:0))
// BAD:     %y = tfl.conv_2d %p, %w, %none {padding = "VALID", stride_h = 1 : i32, stride_w = 1 : i32, dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE"} : (tensor<1x10x10x1xf32>, tensor<1x3x3x1xf32>, none) -> tensor<1x8x8x1xf32>
// BAD:     func.return %y : tensor<1x8x8x1xf32>
// BAD:   }
// BAD: }
// BAD: {-#
// BAD:   dialect_resources: { builtin: {
// BAD:     fp_bad: "0x04000000000000000000000001000000010000000100000001000000",
// BAD:     fp_bad_w: "0x04000000000000000000803f0000004000004040000080400000a0400000c0400000e04000000041"
// BAD:   } }
// BAD: #-}

// ERR: litec: error: m.tflite: op #4 PAD: padding of shape [3, 2] for a rank-4 input
