// Float32 constants become float16 constants read through a DEQUANTIZE; integer and
// float16 constants stay as they are; the pass takes no options.
// RUN: litec opt %s -p quantize-weights-fp16 | filecheck %s
// RUN: not litec opt %s -p 'quantize-weights-fp16{bits=8}' 2>&1 | filecheck %s --check-prefix=ERR

builtin.module {
  func.func @main(%x: tensor<1x2xf32>) -> tensor<2x1xf32> {
    %w = tfl.const dense_resource<fp16_w> : tensor<2x2xf32>
    %b = tfl.const dense_resource<fp16_b> : tensor<2xf32>
    %y = tfl.fully_connected %x, %w, %b {fused_activation_function = "NONE", weights_format = "DEFAULT", keep_num_dims = false, asymmetric_quantize_inputs = false} : (tensor<1x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<1x2xf32>
    %shape = tfl.const dense_resource<fp16_shape> : tensor<2xi32>
    %z = tfl.reshape %y, %shape : (tensor<1x2xf32>, tensor<2xi32>) -> tensor<2x1xf32>
    func.return %z : tensor<2x1xf32>
  }
  func.func @already_half(%x: tensor<2xf32>) -> tensor<2xf32> {
    %h = tfl.const dense_resource<fp16_half> : tensor<2xf16>
    %c = tfl.dequantize %h : (tensor<2xf16>) -> tensor<2xf32>
    %y = tfl.add %x, %c {fused_activation_function = "NONE"} : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
    func.return %y : tensor<2xf32>
  }
}

{-#
  dialect_resources: {
    builtin: {
      fp16_w: "0x040000000000003f000080bf0000803e00000040",
      fp16_b: "0x04000000cdcccc3dcdcc4cbe",
      fp16_shape: "0x040000000200000001000000",
      fp16_half: "0x04000000003c00bc"
    }
  }
#-}

// CHECK-LABEL: func.func @main
// CHECK: %[[W:.*]] = tfl.const dense_resource<fp16_w_f16> : tensor<2x2xf16>
// CHECK-NEXT: %[[WF:.*]] = tfl.dequantize %[[W]] : (tensor<2x2xf16>) -> tensor<2x2xf32>
// CHECK: %[[B:.*]] = tfl.const dense_resource<fp16_b_f16> : tensor<2xf16>
// CHECK-NEXT: %[[BF:.*]] = tfl.dequantize %[[B]] : (tensor<2xf16>) -> tensor<2xf32>
// CHECK: tfl.fully_connected %{{.*}}, %[[WF]], %[[BF]]
// CHECK: tfl.const dense_resource<fp16_shape> : tensor<2xi32>
// CHECK-LABEL: func.func @already_half
// CHECK-NEXT: tfl.const dense_resource<fp16_half> : tensor<2xf16>
// CHECK-NEXT: tfl.dequantize
// CHECK-NEXT: tfl.add
// CHECK: fp16_w_f16: "0x40000000003800bc00340040"

// ERR: litec: error:
// ERR-SAME: bits
