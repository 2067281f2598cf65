// cancel-transposes: inverse transposes cancel; two transposes compose into one; a
// reshape/transpose chain that keeps the element order becomes one reshape (also one
// ending in a reshape; a blocked layout's way back and in again cancels); a transpose
// that only moves unit axes is a reshape; transposes meet through elementwise ops (a
// constant of more than one element is re-laid out); where an elementwise result has
// another use, one transpose restores it there instead of two. It must not fire where
// an elementwise op's other operand is a tensor computed in the transposed layout. A
// constant that is not a permutation is an error.
// RUN: litec opt %s -p cancel-transposes --no-resources | filecheck %s
// RUN: sed -n 's|^// BAD: ||p' %s > %t.bad.mlir
// RUN: not litec opt %t.bad.mlir -p cancel-transposes 2>&1 | filecheck %s --check-prefix=ERR

builtin.module {
  func.func @pair(%x: tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32> {
    %nchw = tfl.const dense_resource<ct_nchw> : tensor<4xi32>
    %nhwc = tfl.const dense_resource<ct_nhwc> : tensor<4xi32>
    %a = tfl.transpose %x, %nchw : (tensor<1x2x3x4xf32>, tensor<4xi32>) -> tensor<1x4x2x3xf32>
    %b = tfl.transpose %a, %nhwc : (tensor<1x4x2x3xf32>, tensor<4xi32>) -> tensor<1x2x3x4xf32>
    func.return %b : tensor<1x2x3x4xf32>
  }
  func.func @composed(%x: tensor<1x2x3x4xf32>) -> tensor<1x4x3x2xf32> {
    %swap = tfl.const dense_resource<ct_swap> : tensor<4xi32>
    %nchw = tfl.const dense_resource<ct_nchw> : tensor<4xi32>
    %a = tfl.transpose %x, %swap : (tensor<1x2x3x4xf32>, tensor<4xi32>) -> tensor<1x3x2x4xf32>
    %b = tfl.transpose %a, %nchw : (tensor<1x3x2x4xf32>, tensor<4xi32>) -> tensor<1x4x3x2xf32> loc("t"("m.tflite":1:0))
    func.return %b : tensor<1x4x3x2xf32>
  }
  func.func @through_elementwise(%x: tensor<1x2x3x4x!quant.uniform<i8:f32, 0.5:-3>>) -> tensor<1x2x3x4xf32> {
    %nchw = tfl.const dense_resource<ct_nchw> : tensor<4xi32>
    %nhwc = tfl.const dense_resource<ct_nhwc> : tensor<4xi32>
    %two = tfl.const dense_resource<ct_two> : tensor<1xf32>
    %a = tfl.transpose %x, %nchw : (tensor<1x2x3x4x!quant.uniform<i8:f32, 0.5:-3>>, tensor<4xi32>) -> tensor<1x4x2x3x!quant.uniform<i8:f32, 0.5:-3>>
    %b = tfl.dequantize %a : (tensor<1x4x2x3x!quant.uniform<i8:f32, 0.5:-3>>) -> tensor<1x4x2x3xf32>
    %c = tfl.mul %two, %b {fused_activation_function = "RELU"} : (tensor<1xf32>, tensor<1x4x2x3xf32>) -> tensor<1x4x2x3xf32>
    %full = tfl.const dense_resource<ct_full> : tensor<1x4x2x3xf32>
    %c2 = tfl.sub %c, %full {fused_activation_function = "NONE"} : (tensor<1x4x2x3xf32>, tensor<1x4x2x3xf32>) -> tensor<1x4x2x3xf32>
    %d = tfl.transpose %c2, %nhwc : (tensor<1x4x2x3xf32>, tensor<4xi32>) -> tensor<1x2x3x4xf32>
    func.return %d : tensor<1x2x3x4xf32>
  }
  func.func @restoring_chain(%x: tensor<1x2x3x4xf32>, %y: tensor<1x1x5x3xf32>) -> (tensor<1x6x4xf32>, tensor<1x5x1x3xf32>) {
    %nchw = tfl.const dense_resource<ct_nchw> : tensor<4xi32>
    %p021 = tfl.const dense_resource<ct_p021> : tensor<3xi32>
    %s3 = tfl.const dense_resource<ct_s3> : tensor<3xi32>
    %swap = tfl.const dense_resource<ct_swap> : tensor<4xi32>
    %a = tfl.transpose %x, %nchw : (tensor<1x2x3x4xf32>, tensor<4xi32>) -> tensor<1x4x2x3xf32>
    %b = tfl.reshape %a, %s3 : (tensor<1x4x2x3xf32>, tensor<3xi32>) -> tensor<1x4x6xf32>
    %c = tfl.transpose %b, %p021 : (tensor<1x4x6xf32>, tensor<3xi32>) -> tensor<1x6x4xf32> loc("c"("m.tflite":7:0))
    %u = tfl.transpose %y, %swap : (tensor<1x1x5x3xf32>, tensor<4xi32>) -> tensor<1x5x1x3xf32>
    func.return %c, %u : tensor<1x6x4xf32>, tensor<1x5x1x3xf32>
  }
  func.func @blocks_restored(%x: tensor<1x2x4x4x16xf32>, %y: tensor<1x4x4x32xf32>) -> (tensor<1x2x4x4x16xf32>, tensor<1x16x32xf32>) {
    %back = tfl.const dense_resource<ct_back5> : tensor<5xi32>
    %into = tfl.const dense_resource<ct_into5> : tensor<5xi32>
    %s4 = tfl.const dense_resource<ct_s4> : tensor<4xi32>
    %s5 = tfl.const dense_resource<ct_s5> : tensor<5xi32>
    %s16 = tfl.const dense_resource<ct_s16> : tensor<3xi32>
    %a = tfl.transpose %x, %back : (tensor<1x2x4x4x16xf32>, tensor<5xi32>) -> tensor<1x4x4x2x16xf32>
    %b = tfl.reshape %a, %s4 : (tensor<1x4x4x2x16xf32>, tensor<4xi32>) -> tensor<1x4x4x32xf32>
    %c = tfl.reshape %b, %s5 : (tensor<1x4x4x32xf32>, tensor<5xi32>) -> tensor<1x4x4x2x16xf32>
    %d = tfl.transpose %c, %into : (tensor<1x4x4x2x16xf32>, tensor<5xi32>) -> tensor<1x2x4x4x16xf32>
    %e = tfl.reshape %y, %s5 : (tensor<1x4x4x32xf32>, tensor<5xi32>) -> tensor<1x4x4x2x16xf32>
    %f = tfl.reshape %e, %s16 : (tensor<1x4x4x2x16xf32>, tensor<3xi32>) -> tensor<1x16x32xf32>
    func.return %d, %f : tensor<1x2x4x4x16xf32>, tensor<1x16x32xf32>
  }
  func.func @other_use(%x: tensor<1x2x3x4xf32>) -> (tensor<1x2x3x4xf32>, tensor<1x4x2x3xf32>) {
    %nchw = tfl.const dense_resource<ct_nchw> : tensor<4xi32>
    %nhwc = tfl.const dense_resource<ct_nhwc> : tensor<4xi32>
    %a = tfl.transpose %x, %nchw : (tensor<1x2x3x4xf32>, tensor<4xi32>) -> tensor<1x4x2x3xf32>
    %b = tfl.relu %a : (tensor<1x4x2x3xf32>) -> tensor<1x4x2x3xf32>
    %c = tfl.transpose %b, %nhwc : (tensor<1x4x2x3xf32>, tensor<4xi32>) -> tensor<1x2x3x4xf32>
    func.return %c, %b : tensor<1x2x3x4xf32>, tensor<1x4x2x3xf32>
  }
  func.func @not_cancelled(%x: tensor<1x2x3x4xf32>, %z: tensor<1x4x2x3xf32>) -> tensor<1x2x3x4xf32> {
    %nchw = tfl.const dense_resource<ct_nchw> : tensor<4xi32>
    %nhwc = tfl.const dense_resource<ct_nhwc> : tensor<4xi32>
    %d = tfl.transpose %x, %nchw : (tensor<1x2x3x4xf32>, tensor<4xi32>) -> tensor<1x4x2x3xf32>
    %e = tfl.add %d, %z {fused_activation_function = "NONE"} : (tensor<1x4x2x3xf32>, tensor<1x4x2x3xf32>) -> tensor<1x4x2x3xf32>
    %f = tfl.transpose %e, %nhwc : (tensor<1x4x2x3xf32>, tensor<4xi32>) -> tensor<1x2x3x4xf32>
    func.return %f : tensor<1x2x3x4xf32>
  }
}

{-#
  dialect_resources: {
    builtin: {
      ct_nchw: "0x0400000000000000030000000100000002000000",
      ct_nhwc: "0x0400000000000000020000000300000001000000",
      ct_swap: "0x0400000000000000020000000100000003000000",
      ct_p021: "0x04000000000000000200000001000000",
      ct_s3: "0x04000000010000000400000006000000",
      ct_back5: "0x040000000000000002000000030000000100000004000000",
      ct_into5: "0x040000000000000003000000010000000200000004000000",
      ct_s4: "0x0400000001000000040000000400000020000000",
      ct_s5: "0x040000000100000004000000040000000200000010000000",
      ct_s16: "0x04000000010000001000000020000000",
      ct_two: "0x0400000000000040",
      ct_full: "0x04000000000000400000004000000040000000400000004000000040000000400000004000000040000000400000004000000040000000400000004000000040000000400000004000000040000000400000004000000040000000400000004000000040"
    }
  }
#-}

// CHECK-LABEL: func.func @pair
// CHECK-NEXT:    func.return %x
// CHECK-LABEL: func.func @composed
// CHECK-NEXT:    %[[P:.*]] = tfl.const dense_resource<ct_nchw_perm> : tensor<4xi32> loc("t"("m.tflite":1:0))
// CHECK-NEXT:    %[[T:.*]] = tfl.transpose %x, %[[P]] : (tensor<1x2x3x4xf32>, tensor<4xi32>) -> tensor<1x4x3x2xf32> loc("t"("m.tflite":1:0))
// CHECK-NEXT:    func.return %[[T]]
// CHECK-LABEL: func.func @through_elementwise
// CHECK-NEXT:    %two = tfl.const
// CHECK-NEXT:    %[[B:.*]] = tfl.dequantize %x : (tensor<1x2x3x4x!quant.uniform<i8:f32, 0.5:-3>>) -> tensor<1x2x3x4xf32>
// CHECK-NEXT:    %[[C:.*]] = tfl.mul %two, %[[B]] {fused_activation_function = "RELU"} : (tensor<1xf32>, tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32>
// CHECK-NEXT:    %[[F:.*]] = tfl.const dense_resource<ct_full_perm> : tensor<1x2x3x4xf32>
// CHECK-NEXT:    %[[D:.*]] = tfl.sub %[[C]], %[[F]] {fused_activation_function = "NONE"} : (tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32>
// CHECK-NEXT:    func.return %[[D]]
// CHECK-LABEL: func.func @restoring_chain
// CHECK-NOT:     tfl.transpose
// CHECK:         %[[S:.*]] = tfl.const dense_resource<ct_p021_shape> : tensor<3xi32>
// CHECK-NEXT:    %[[C:.*]] = tfl.reshape %x, %[[S]] : (tensor<1x2x3x4xf32>, tensor<3xi32>) -> tensor<1x6x4xf32> loc("c"("m.tflite":7:0))
// CHECK-NOT:     tfl.transpose
// CHECK:         %[[U:.*]] = tfl.reshape %y, %{{.*}} : (tensor<1x1x5x3xf32>, tensor<4xi32>) -> tensor<1x5x1x3xf32>
// CHECK-NEXT:    func.return %[[C]], %[[U]]
// CHECK-LABEL: func.func @blocks_restored
// CHECK-NOT:     tfl.transpose
// CHECK:         %[[F:.*]] = tfl.reshape %y, %{{.*}} : (tensor<1x4x4x32xf32>, tensor<3xi32>) -> tensor<1x16x32xf32>
// CHECK-NEXT:    func.return %x, %[[F]]
// CHECK-LABEL: func.func @other_use
// CHECK-NEXT:    %[[R:.*]] = tfl.relu %x : (tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32>
// CHECK-NEXT:    %[[P:.*]] = tfl.const dense_resource<ct_nchw_perm{{.*}}> : tensor<4xi32>
// CHECK-NEXT:    %[[T:.*]] = tfl.transpose %[[R]], %[[P]] : (tensor<1x2x3x4xf32>, tensor<4xi32>) -> tensor<1x4x2x3xf32>
// CHECK-NEXT:    func.return %[[R]], %[[T]]
// CHECK-LABEL: func.func @not_cancelled
// CHECK-COUNT-2: tfl.transpose

// BAD: builtin.module {
// BAD:   func.func @main(%x: tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32> {
// BAD:     %bad = tfl.const dense_resource<ct_bad> : tensor<4xi32>
// BAD:     %a = tfl.transpose %x, %bad : (tensor<1x2x3x4xf32>, tensor<4xi32>) -> tensor<1x2x2x3xf32> loc("a"("m.tflite":3:0))
// BAD:     %b = tfl.transpose %a, %bad : (tensor<1x2x2x3xf32>, tensor<4xi32>) -> tensor<1x2x3x4xf32>
// BAD:     func.return %b : tensor<1x2x3x4xf32>
// BAD:   }
// BAD: }
// BAD: {-#
// BAD:   dialect_resources: { builtin: {
// BAD:     ct_bad: "0x0400000000000000000000000100000002000000"
// BAD:   } }
// BAD: #-}

// ERR: litec: error: m.tflite: op #3 TRANSPOSE: [0, 0, 1, 2] is not a permutation of 4 axes
