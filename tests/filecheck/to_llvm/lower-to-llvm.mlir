// lower-to-llvm: the whole pipeline. A kernel with a loop, vector loads/stores, an FMA
// and index arithmetic comes out as llvm ops only (no casts left); a function already in
// the llvm dialect is left alone; an op no pass lowers is a one-line error naming it
// (the ERR run uncomments the case at the end).
// RUN: litec opt %s -p lower-to-llvm | filecheck %s
// RUN: sed -n 's|^// BAD: ||p' %s > %t.bad.mlir
// RUN: not litec opt %t.bad.mlir -p lower-to-llvm 2>&1 | filecheck %s --check-prefix=ERR

builtin.module {
  func.func @axpy(%a: memref<64xf32>, %x: memref<64xf32>, %y: memref<64xf32>) {
    %c0 = arith.constant 0 : index
    %c64 = arith.constant 64 : index
    %c16 = arith.constant 16 : index
    %s = memref.load %a[%c0] : memref<64xf32>
    %sv = vector.broadcast %s : f32 to vector<16xf32>
    scf.for %i = %c0 to %c64 step %c16 {
      %xv = vector.load %x[%i] : memref<64xf32>, vector<16xf32>
      %yv = vector.load %y[%i] : memref<64xf32>, vector<16xf32>
      %r = vector.fma %sv, %xv, %yv : vector<16xf32>
      vector.store %r, %y[%i] : memref<64xf32>, vector<16xf32>
    }
    func.return
  }
  llvm.func @already_llvm(%p: !llvm.ptr) {
    llvm.return
  }
}

// CHECK-LABEL: llvm.func @axpy(%a: !llvm.ptr{{.*}}, %x: !llvm.ptr{{.*}}, %y: !llvm.ptr{{.*}}) {
// CHECK:       llvm.load %a {alignment = 4 : i64} : !llvm.ptr -> f32
// CHECK:       llvm.shufflevector
// CHECK:       llvm.br ^[[HEAD:.*]](%{{.*}} : i64)
// CHECK:     ^[[HEAD]](%[[I:.*]]: i64{{.*}}):
// CHECK:       llvm.icmp "slt" %[[I]], %{{.*}} : i64
// CHECK:       llvm.getelementptr inbounds %x[%[[I]]] : (!llvm.ptr, i64) -> !llvm.ptr, f32
// CHECK:       llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr -> vector<16xf32>
// CHECK:       llvm.intr.fma
// CHECK:       llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : vector<16xf32>, !llvm.ptr
// CHECK:       llvm.add %[[I]], %{{.*}} : i64
// CHECK:       llvm.return
// CHECK-NOT:   unrealized_conversion_cast
// CHECK-LABEL: llvm.func @already_llvm(%p: !llvm.ptr{{.*}}) {
// CHECK-NEXT:  llvm.return

// BAD: builtin.module {
// BAD:   func.func @print(%v: vector<4xf32>) {
// BAD:     "vector.print"(%v) : (vector<4xf32>) -> ()
// BAD:     func.return
// BAD:   }
// BAD: }

// ERR: litec: error: vector.print: no lowering to the llvm dialect
