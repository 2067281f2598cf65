// convert-memref-to-llvm: loads and stores address one `getelementptr inbounds` by the
// linear index from the static strides (no-signed-wrap), with the element's alignment;
// views move the pointer; alloca is 64-byte aligned; copy is llvm.memcpy. Other dialects
// are left alone. memref.alloc is a one-line error (the ERR run uncomments the case at the end).
// RUN: litec opt %s -p convert-memref-to-llvm | filecheck %s
// RUN: sed -n 's|^// BAD: ||p' %s > %t.bad.mlir
// RUN: not litec opt %t.bad.mlir -p convert-memref-to-llvm 2>&1 | filecheck %s --check-prefix=ERR

builtin.module {
  func.func @fires(%m: memref<4x8xf32>, %out: memref<32xf32>, %i: index, %j: index) {
    %x = memref.load %m[%i, %j] : memref<4x8xf32>
    memref.store %x, %out[%j] : memref<32xf32>
    %row = memref.subview %m[%i, 2] [1, 4] [1, 1] : memref<4x8xf32> to memref<1x4xf32, strided<[8, 1], offset: ?>>
    %y = memref.load %row[%j, %j] : memref<1x4xf32, strided<[8, 1], offset: ?>>
    %flat = memref.collapse_shape %m [[0, 1]] : memref<4x8xf32> into memref<32xf32>
    "memref.copy"(%flat, %out) : (memref<32xf32>, memref<32xf32>) -> ()
    %tmp = memref.alloca() : memref<16xi8>
    func.return
  }

  func.func @leaves_other_dialects(%a: f32) -> f32 {
    %b = arith.addf %a, %a : f32
    func.return %b : f32
  }
}

// CHECK-LABEL: func.func @fires
// CHECK-DAG:  %[[TWO:.*]] = llvm.mlir.constant(2) : i64
// CHECK-DAG:  %[[EIGHT:.*]] = llvm.mlir.constant(8) : i64
// CHECK-DAG:  %[[OUT:.*]] = builtin.unrealized_conversion_cast %out : memref<32xf32> to !llvm.ptr
// CHECK-DAG:  %[[I:.*]] = builtin.unrealized_conversion_cast %i : index to i64
// CHECK-DAG:  %[[J:.*]] = builtin.unrealized_conversion_cast %j : index to i64
// CHECK-DAG:  %[[M:.*]] = builtin.unrealized_conversion_cast %m : memref<4x8xf32> to !llvm.ptr
// CHECK:      %[[ROW:.*]] = llvm.mul %[[I]], %[[EIGHT]] overflow<nsw> : i64
// CHECK-NEXT: %[[LIN:.*]] = llvm.add %[[ROW]], %[[J]] overflow<nsw> : i64
// CHECK-NEXT: %[[P:.*]] = llvm.getelementptr inbounds %[[M]][%[[LIN]]] : (!llvm.ptr, i64) -> !llvm.ptr, f32
// CHECK-NEXT: %[[X:.*]] = llvm.load %[[P]] {alignment = 4 : i64} : !llvm.ptr -> f32
// CHECK-NEXT: %[[Q:.*]] = llvm.getelementptr inbounds %[[OUT]][%[[J]]] : (!llvm.ptr, i64) -> !llvm.ptr, f32
// CHECK-NEXT: llvm.store %[[X]], %[[Q]] {alignment = 4 : i64} : f32, !llvm.ptr
// The subview starts at element i * 8 + 2 of %m; its rows keep the stride 8:
// CHECK-NEXT: %[[START:.*]] = llvm.mul %[[I]], %[[EIGHT]] overflow<nsw> : i64
// CHECK-NEXT: %[[START2:.*]] = llvm.add %[[START]], %[[TWO]] overflow<nsw> : i64
// CHECK-NEXT: %[[SUB:.*]] = llvm.getelementptr inbounds %[[M]][%[[START2]]] : (!llvm.ptr, i64) -> !llvm.ptr, f32
// CHECK:      llvm.mul %[[J]], %[[EIGHT]] overflow<nsw> : i64
// CHECK:      llvm.getelementptr inbounds %[[SUB]][%{{.*}}] : (!llvm.ptr, i64) -> !llvm.ptr, f32
// CHECK-NEXT: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr -> f32
// CHECK-NEXT: %[[BYTES:.*]] = llvm.mlir.constant(128) : i64
// CHECK-NEXT: %[[NO:.*]] = llvm.mlir.constant(false) : i1
// CHECK-NEXT: llvm.call_intrinsic "llvm.memcpy.p0.p0.i64"(%[[OUT]], %[[M]], %[[BYTES]], %[[NO]]) : (!llvm.ptr, !llvm.ptr, i64, i1) -> ()
// CHECK-NEXT: %[[SIXTEEN:.*]] = llvm.mlir.constant(16) : i64
// CHECK-NEXT: llvm.alloca %[[SIXTEEN]] x i8 {alignment = 64 : i64} : (i64) -> !llvm.ptr
// CHECK-NOT:  memref.
// CHECK-LABEL: func.func @leaves_other_dialects
// CHECK-NEXT: arith.addf %a, %a : f32

// BAD: builtin.module {
// BAD:   func.func @alloc() {
// BAD:     %0 = memref.alloc() : memref<16xf32>
// BAD:     func.return
// BAD:   }
// BAD: }

// ERR: litec: error: memref.alloc: kernels do not allocate: bind scratch space as an argument
