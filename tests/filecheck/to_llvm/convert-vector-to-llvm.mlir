// convert-vector-to-llvm: 1-D vector loads and stores get GEP addressing and an explicit
// element alignment; broadcast is insertelement + zero-mask shufflevector; fma, extract,
// masked stores and reductions map to LLVM (float add as a shuffle tree). Other dialects
// are left alone. A 2-D vector is a one-line error (the ERR run uncomments the case at the end).
// RUN: litec opt %s -p convert-vector-to-llvm | filecheck %s
// RUN: sed -n 's|^// BAD: ||p' %s > %t.bad.mlir
// RUN: not litec opt %t.bad.mlir -p convert-vector-to-llvm 2>&1 | filecheck %s --check-prefix=ERR

builtin.module {
  func.func @fires(%m: memref<64xf32>, %i: index, %s: f32, %k: index) -> f32 {
    %v = vector.load %m[%i] : memref<64xf32>, vector<16xf32>
    %b = vector.broadcast %s : f32 to vector<16xf32>
    %f = vector.fma %v, %b, %v : vector<16xf32>
    vector.store %f, %m[%i] : memref<64xf32>, vector<16xf32>
    %mask = vector.create_mask %k : vector<16xi1>
    vector.maskedstore %m[%i], %mask, %f : memref<64xf32>, vector<16xi1>, vector<16xf32>
    %e = vector.extract %f[3] : f32 from vector<16xf32>
    %r = "vector.reduction"(%f) <{kind = #vector.kind<add>, fastmath = #arith.fastmath<none>}> : (vector<16xf32>) -> f32
    func.return %r : f32
  }

  func.func @leaves_other_dialects(%m: memref<4xf32>, %i: index) -> f32 {
    %0 = memref.load %m[%i] : memref<4xf32>
    func.return %0 : f32
  }
}

// CHECK-LABEL: func.func @fires
// CHECK-DAG:  %[[THREE:.*]] = llvm.mlir.constant(3) : i64
// CHECK-DAG:  %[[ALIGN:.*]] = llvm.mlir.constant(4 : i32) : i32
// CHECK-DAG:  %[[ZERO:.*]] = llvm.mlir.constant(0) : i64
// CHECK-DAG:  %[[M:.*]] = builtin.unrealized_conversion_cast %m : memref<64xf32> to !llvm.ptr
// CHECK-DAG:  %[[I:.*]] = builtin.unrealized_conversion_cast %i : index to i64
// CHECK:      %[[P:.*]] = llvm.getelementptr inbounds %[[M]][%[[I]]] : (!llvm.ptr, i64) -> !llvm.ptr, f32
// CHECK-NEXT: %[[V:.*]] = llvm.load %[[P]] {alignment = 4 : i64} : !llvm.ptr -> vector<16xf32>
// CHECK-NEXT: %[[U:.*]] = llvm.mlir.undef : vector<16xf32>
// CHECK-NEXT: %[[ONE:.*]] = llvm.insertelement %s, %[[U]][%[[ZERO]] : i64] : vector<16xf32>
// CHECK-NEXT: %[[B:.*]] = llvm.shufflevector %[[ONE]], %[[U]] [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] : vector<16xf32>
// CHECK-NEXT: %[[F:.*]] = llvm.intr.fma(%[[V]], %[[B]], %[[V]]) : (vector<16xf32>, vector<16xf32>, vector<16xf32>) -> vector<16xf32>
// CHECK-NEXT: %[[Q:.*]] = llvm.getelementptr inbounds %[[M]][%[[I]]] : (!llvm.ptr, i64) -> !llvm.ptr, f32
// CHECK-NEXT: llvm.store %[[F]], %[[Q]] {alignment = 4 : i64} : vector<16xf32>, !llvm.ptr
// CHECK-NEXT: %[[STEPS:.*]] = llvm.mlir.constant(dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]> : vector<16xi64>) : vector<16xi64>
// CHECK:      %[[MASK:.*]] = llvm.icmp "slt" %[[STEPS]], %{{.*}} : vector<16xi64>
// CHECK-NEXT: %[[R:.*]] = llvm.getelementptr inbounds %[[M]][%[[I]]] : (!llvm.ptr, i64) -> !llvm.ptr, f32
// CHECK-NEXT: llvm.call_intrinsic "llvm.masked.store.v16f32.p0"(%[[F]], %[[R]], %[[ALIGN]], %[[MASK]]) : (vector<16xf32>, !llvm.ptr, i32, vector<16xi1>) -> ()
// CHECK-NEXT: llvm.extractelement %[[F]][%[[THREE]] : i64] : vector<16xf32>
// CHECK-NEXT: llvm.shufflevector %[[F]], %[[F]] [0, 1, 2, 3, 4, 5, 6, 7] : vector<16xf32>
// CHECK-NEXT: llvm.shufflevector %[[F]], %[[F]] [8, 9, 10, 11, 12, 13, 14, 15] : vector<16xf32>
// CHECK-NEXT: llvm.fadd %{{.*}}, %{{.*}} : vector<8xf32>
// CHECK:      %[[LAST:.*]] = llvm.fadd %{{.*}}, %{{.*}} : vector<1xf32>
// CHECK-NEXT: llvm.extractelement %[[LAST]][%[[ZERO]] : i64] : vector<1xf32>
// CHECK-NOT:  vector.
// CHECK-LABEL: func.func @leaves_other_dialects
// CHECK-NEXT: memref.load %m[%i] : memref<4xf32>

// BAD: builtin.module {
// BAD:   func.func @two_d(%m: memref<4x16xf32>, %i: index) {
// BAD:     %v = vector.load %m[%i, %i] : memref<4x16xf32>, vector<4x16xf32>
// BAD:     func.return
// BAD:   }
// BAD: }

// ERR: litec: error: vector.load: only 1-D fixed-size vectors are supported (vector<4x16xf32>)
