// convert-layout: with conv_2d=NCHW, two convs with a RELU between compute in NCHW
// (tagged `litec.layout`) with one transpose in and one out; a MAX_POOL left in NHWC
// between two converted convs keeps its pair; two convs of one input share its transpose. It must not fire for the CPU target (its
// kernels compute in NHWC), nor on a RESIZE whose image is not 4-D. A bad `layouts`
// entry and a layout on a layout-agnostic op are errors.
// With conv_2d=NCHW16c (blocked: [N, C/16, H, W, 16]), conv -> relu -> add (per-channel
// constant, laid out in blocks as [1, C/16, 1, 1, 16]) -> conv keeps one RESHAPE + TRANSPOSE
// in and one out; a conv whose 24 channels do not fill whole blocks, and every other
// function here (3 or 4 channels), stays in NHWC. A bad block and a blocked op whose images
// are not 5-D are errors.
// RUN: litec opt %s -p 'convert-layout{layouts="conv_2d=NCHW,resize_nearest_neighbor=NCHW"}' --no-resources | filecheck %s
// RUN: litec opt %s -p convert-layout --no-resources | filecheck %s --check-prefix=CPU
// RUN: litec opt %s -p 'convert-layout{layouts="conv_2d=NCHW16c"}' --no-resources | filecheck %s --check-prefix=BLK
// RUN: not litec opt %s -p 'convert-layout{layouts="conv_2d=NCWX"}' 2>&1 | filecheck %s --check-prefix=ERR
// RUN: not litec opt %s -p 'convert-layout{layouts="conv_2d=NCHW12c"}' 2>&1 | filecheck %s --check-prefix=ERR-BLOCK
// RUN: not litec opt %s -p 'convert-layout{layouts="fully_connected=NCHW"}' 2>&1 | filecheck %s --check-prefix=ERR-OP
// RUN: sed -n 's|^// BAD: ||p' %s > %t.bad.mlir
// RUN: not litec opt %t.bad.mlir 2>&1 | filecheck %s --check-prefix=ERR-ATTR
// RUN: sed -n 's|^// BAD-SHAPE: ||p' %s > %t.bad-shape.mlir
// RUN: not litec opt %t.bad-shape.mlir 2>&1 | filecheck %s --check-prefix=ERR-SHAPE

builtin.module {
  func.func @blocked(%x: tensor<1x4x4x32xf32>, %w: tensor<32x1x1x32xf32>) -> tensor<1x4x4x32xf32> {
    %b = tfl.no_value : none
    %c = tfl.const dense_resource<cl_c32> : tensor<32xf32>
    %c1 = tfl.conv_2d %x, %w, %b {dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE", padding = "SAME", stride_h = 1 : i32, stride_w = 1 : i32} : (tensor<1x4x4x32xf32>, tensor<32x1x1x32xf32>, none) -> tensor<1x4x4x32xf32>
    %r = tfl.relu %c1 : (tensor<1x4x4x32xf32>) -> tensor<1x4x4x32xf32>
    %a = tfl.add %r, %c {fused_activation_function = "NONE"} : (tensor<1x4x4x32xf32>, tensor<32xf32>) -> tensor<1x4x4x32xf32>
    %c2 = tfl.conv_2d %a, %w, %b {dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE", padding = "SAME", stride_h = 1 : i32, stride_w = 1 : i32} : (tensor<1x4x4x32xf32>, tensor<32x1x1x32xf32>, none) -> tensor<1x4x4x32xf32>
    func.return %c2 : tensor<1x4x4x32xf32>
  }
  func.func @not_whole_blocks(%x: tensor<1x4x4x24xf32>, %w: tensor<24x1x1x24xf32>) -> tensor<1x4x4x24xf32> {
    %b = tfl.no_value : none
    %c1 = tfl.conv_2d %x, %w, %b {dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE", padding = "SAME", stride_h = 1 : i32, stride_w = 1 : i32} : (tensor<1x4x4x24xf32>, tensor<24x1x1x24xf32>, none) -> tensor<1x4x4x24xf32>
    func.return %c1 : tensor<1x4x4x24xf32>
  }
  func.func @two_convs(%x: tensor<1x6x6x3xf32>) -> tensor<1x6x6x4xf32> {
    %w1 = tfl.const dense_resource<cl_w1> : tensor<4x1x1x3xf32>
    %w2 = tfl.const dense_resource<cl_w2> : tensor<4x1x1x4xf32>
    %b = tfl.no_value : none
    %c1 = tfl.conv_2d %x, %w1, %b {dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE", padding = "SAME", stride_h = 1 : i32, stride_w = 1 : i32} : (tensor<1x6x6x3xf32>, tensor<4x1x1x3xf32>, none) -> tensor<1x6x6x4xf32>
    %r = tfl.relu %c1 : (tensor<1x6x6x4xf32>) -> tensor<1x6x6x4xf32>
    %c2 = tfl.conv_2d %r, %w2, %b {dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE", padding = "SAME", stride_h = 1 : i32, stride_w = 1 : i32} : (tensor<1x6x6x4xf32>, tensor<4x1x1x4xf32>, none) -> tensor<1x6x6x4xf32>
    func.return %c2 : tensor<1x6x6x4xf32>
  }
  func.func @pool_between(%x: tensor<1x6x6x4xf32>) -> tensor<1x3x3x4xf32> {
    %w2 = tfl.const dense_resource<cl_w2> : tensor<4x1x1x4xf32>
    %b = tfl.no_value : none
    %c1 = tfl.conv_2d %x, %w2, %b {dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "RELU", padding = "SAME", stride_h = 1 : i32, stride_w = 1 : i32} : (tensor<1x6x6x4xf32>, tensor<4x1x1x4xf32>, none) -> tensor<1x6x6x4xf32>
    %p = tfl.max_pool_2d %c1 {filter_height = 2 : i32, filter_width = 2 : i32, fused_activation_function = "NONE", padding = "VALID", stride_h = 2 : i32, stride_w = 2 : i32} : (tensor<1x6x6x4xf32>) -> tensor<1x3x3x4xf32>
    %c2 = tfl.conv_2d %p, %w2, %b {dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE", padding = "SAME", stride_h = 1 : i32, stride_w = 1 : i32} : (tensor<1x3x3x4xf32>, tensor<4x1x1x4xf32>, none) -> tensor<1x3x3x4xf32>
    func.return %c2 : tensor<1x3x3x4xf32>
  }
  func.func @shared_input(%x: tensor<1x6x6x4xf32>) -> (tensor<1x6x6x4xf32>, tensor<1x6x6x4xf32>) {
    %w2 = tfl.const dense_resource<cl_w2> : tensor<4x1x1x4xf32>
    %b = tfl.no_value : none
    %c1 = tfl.conv_2d %x, %w2, %b {dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "RELU", padding = "SAME", stride_h = 1 : i32, stride_w = 1 : i32} : (tensor<1x6x6x4xf32>, tensor<4x1x1x4xf32>, none) -> tensor<1x6x6x4xf32>
    %c2 = tfl.conv_2d %x, %w2, %b {dilation_h_factor = 1 : i32, dilation_w_factor = 1 : i32, fused_activation_function = "NONE", padding = "SAME", stride_h = 1 : i32, stride_w = 1 : i32} : (tensor<1x6x6x4xf32>, tensor<4x1x1x4xf32>, none) -> tensor<1x6x6x4xf32>
    func.return %c1, %c2 : tensor<1x6x6x4xf32>, tensor<1x6x6x4xf32>
  }
  func.func @not_4d(%x: tensor<4x4x3xf32>) -> tensor<8x8x3xf32> {
    %size = tfl.const dense_resource<cl_size> : tensor<2xi32>
    %y = tfl.resize_nearest_neighbor %x, %size {align_corners = false, half_pixel_centers = false} : (tensor<4x4x3xf32>, tensor<2xi32>) -> tensor<8x8x3xf32>
    func.return %y : tensor<8x8x3xf32>
  }
}

{-#
  dialect_resources: {
    builtin: {
      cl_w1: "0x04000000000000bfcdccccbe9a9999becccc4cbeccccccbd00000000d0cccc3dcccc4c3e9a99993ecccccc3e0000003f9a99193f",
      cl_w2: "0x04000000cdcc4cbf333333bf9a9919bf000000bfcdccccbe9a9999becccc4cbed0ccccbd00000000c8cccc3dcccc4c3e9a99993ececccc3efeffff3e9999193f3333333f",
      cl_size: "0x040000000800000008000000",
      cl_c32: "0x04000000000000c00000f0bf0000e0bf0000d0bf0000c0bf0000b0bf0000a0bf000090bf000080bf000060bf000040bf000020bf000000bf0000c0be000080be000000be000000000000003e0000803e0000c03e0000003f0000203f0000403f0000603f0000803f0000903f0000a03f0000b03f0000c03f0000d03f0000e03f0000f03f"
    }
  }
#-}

// BLK-LABEL: func.func @blocked
// BLK:         %[[S:.*]] = tfl.reshape %x, %{{.*}} : (tensor<1x4x4x32xf32>, tensor<5xi32>) -> tensor<1x4x4x2x16xf32>
// BLK-NEXT:    tfl.const
// BLK-NEXT:    %[[IN:.*]] = tfl.transpose %[[S]], %{{.*}} : (tensor<1x4x4x2x16xf32>, tensor<5xi32>) -> tensor<1x2x4x4x16xf32>
// BLK-NEXT:    %[[C1:.*]] = tfl.conv_2d %[[IN]], %w, %b {litec.layout = "NCHW16c", {{.*}}} : (tensor<1x2x4x4x16xf32>, tensor<32x1x1x32xf32>, none) -> tensor<1x2x4x4x16xf32>
// BLK-NEXT:    %[[R:.*]] = tfl.relu %[[C1]] : (tensor<1x2x4x4x16xf32>) -> tensor<1x2x4x4x16xf32>
// BLK-NEXT:    %[[C:.*]] = tfl.const dense_resource<cl_c32_blocks_perm> : tensor<1x2x1x1x16xf32>
// BLK-NEXT:    %[[A:.*]] = tfl.add %[[R]], %[[C]] {{.*}} -> tensor<1x2x4x4x16xf32>
// BLK-NEXT:    %[[C2:.*]] = tfl.conv_2d %[[A]], %w, %b {litec.layout = "NCHW16c", {{.*}}} : (tensor<1x2x4x4x16xf32>, tensor<32x1x1x32xf32>, none) -> tensor<1x2x4x4x16xf32>
// BLK-NEXT:    tfl.const
// BLK-NEXT:    %[[OUT:.*]] = tfl.transpose %[[C2]], %{{.*}} -> tensor<1x4x4x2x16xf32>
// BLK-NEXT:    tfl.const
// BLK-NEXT:    %[[Y:.*]] = tfl.reshape %[[OUT]], %{{.*}} -> tensor<1x4x4x32xf32>
// BLK-NEXT:    func.return %[[Y]]
// BLK-LABEL: func.func @not_whole_blocks
// BLK-NOT:     litec.layout
// BLK-NOT:     tfl.transpose
// BLK-NOT:     tfl.reshape

// CHECK-LABEL: func.func @two_convs
// CHECK:         %[[IN:.*]] = tfl.transpose %x, %{{.*}} : (tensor<1x6x6x3xf32>, tensor<4xi32>) -> tensor<1x3x6x6xf32>
// CHECK-NEXT:    %[[C1:.*]] = tfl.conv_2d %[[IN]], %w1, %b {litec.layout = "NCHW", {{.*}}} : (tensor<1x3x6x6xf32>, tensor<4x1x1x3xf32>, none) -> tensor<1x4x6x6xf32>
// CHECK-NEXT:    %[[R:.*]] = tfl.relu %[[C1]] : (tensor<1x4x6x6xf32>) -> tensor<1x4x6x6xf32>
// CHECK-NEXT:    %[[C2:.*]] = tfl.conv_2d %[[R]], %w2, %b {litec.layout = "NCHW", {{.*}}} : (tensor<1x4x6x6xf32>, tensor<4x1x1x4xf32>, none) -> tensor<1x4x6x6xf32>
// CHECK-NEXT:    %{{.*}} = tfl.const dense_resource<c_layout{{.*}}> : tensor<4xi32>
// CHECK-NEXT:    %[[OUT:.*]] = tfl.transpose %[[C2]], %{{.*}} : (tensor<1x4x6x6xf32>, tensor<4xi32>) -> tensor<1x6x6x4xf32>
// CHECK-NEXT:    func.return %[[OUT]]
// CHECK-LABEL: func.func @pool_between
// CHECK:         tfl.transpose
// CHECK:         tfl.conv_2d {{.*}}litec.layout = "NCHW"
// CHECK:         tfl.transpose
// CHECK-NEXT:    tfl.max_pool_2d
// CHECK-NOT:       litec.layout
// CHECK:         tfl.transpose
// CHECK:         tfl.conv_2d {{.*}}litec.layout = "NCHW"
// CHECK:         tfl.transpose
// CHECK-NEXT:    func.return
// CHECK-LABEL: func.func @shared_input
// CHECK:         %[[IN:.*]] = tfl.transpose %x
// CHECK-NEXT:    tfl.conv_2d %[[IN]], {{.*}}litec.layout = "NCHW"
// CHECK-NOT:     tfl.transpose %x
// CHECK:         tfl.conv_2d %[[IN]], {{.*}}litec.layout = "NCHW"
// CHECK-LABEL: func.func @not_4d
// CHECK-NOT:     tfl.transpose
// CHECK-NOT:     litec.layout
// CHECK:         func.return

// CPU-NOT: tfl.transpose
// CPU-NOT: litec.layout

// ERR: litec: error: convert-layout: 'conv_2d=NCWX': 'NCWX' is not a layout: it must order the letters N, H, W, C
// ERR-BLOCK: litec: error: convert-layout: 'conv_2d=NCHW12c': 'NCHW12c' is not a layout: a block of 12 channels (2 to 64, a power of two)
// ERR-OP: litec: error: convert-layout: 'fully_connected=NCHW': no layout-sensitive op fully_connected (conv_2d, depthwise_conv_2d,

// BAD: builtin.module {
// BAD:   func.func @main(%x: tensor<1x2x2x3xf32>) -> tensor<1x2x2x3xf32> {
// BAD:     %r = tfl.relu %x {litec.layout = "NCHW"} : (tensor<1x2x2x3xf32>) -> tensor<1x2x2x3xf32>
// BAD:     func.return %r : tensor<1x2x2x3xf32>
// BAD:   }
// BAD: }
// ERR-ATTR: tfl.relu: only layout-sensitive ops carry litec.layout

// BAD-SHAPE: builtin.module {
// BAD-SHAPE:   func.func @main(%x: tensor<1x2x2x16xf32>) -> tensor<1x1x1x16xf32> {
// BAD-SHAPE:     %p = tfl.max_pool_2d %x {litec.layout = "NCHW16c", filter_height = 2 : i32, filter_width = 2 : i32, fused_activation_function = "NONE", padding = "VALID", stride_h = 2 : i32, stride_w = 2 : i32} : (tensor<1x2x2x16xf32>) -> tensor<1x1x1x16xf32>
// BAD-SHAPE:     func.return %p : tensor<1x1x1x16xf32>
// BAD-SHAPE:   }
// BAD-SHAPE: }
// ERR-SHAPE: tfl.max_pool_2d: litec.layout NCHW16c needs 5-D images of its stored shape (16 channels last)
