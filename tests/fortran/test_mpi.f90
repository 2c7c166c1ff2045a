! A Fortran program on its own communicator (module lamina_mpi): MPI_COMM_WORLD split in
! two (ranks 0 and 1 together, rank 2 alone). Each rank fits a classifier with batch norm
! on its chunks of every global batch, and also alone on the whole arrays (a context with no
! hook); the two models must predict the same bits. Run with mpirun -np 3. Exits 0 or 1.
program test_mpi
  use, intrinsic :: iso_c_binding, only: c_float, c_int32_t, c_int64_t
  use lamina
  use lamina_mpi
  implicit none
  ! mpif.h rather than `use mpi`: Debian keeps mpi.mod in a compiler-versioned folder that
  ! pkg-config does not name
  include 'mpif.h'

  integer, parameter :: n = 96
  type(lam_ctx) :: alone, ctx
  type(lam_model) :: m1, m2
  type(lam_optim) :: o1, o2
  type(lam_mpi_handle) :: h
  real(c_float) :: x(n, 4), p1(n, 3), p2(n, 3)
  integer(c_int32_t) :: labels(n)
  integer :: i, st, ierr, world, mine
  character(len=*), parameter :: spec = 'linear:16 bn relu linear:out'

  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, world, ierr)
  call MPI_Comm_split(MPI_COMM_WORLD, merge(0, 1, world < 2), world, mine, ierr)
  do i = 1, n
    x(i, 1) = real(mod(7 * i, 31), c_float) / 15 - 1
    x(i, 2) = real(mod(11 * i, 29), c_float) / 14 - 1
    x(i, 3) = real(mod(13 * i, 23), c_float) / 11 - 1
    x(i, 4) = real(mod(5 * i, 17), c_float) / 8 - 1
    labels(i) = int(mod(i, 3), c_int32_t)
  end do

  call expect(lam_ctx_create(alone, n_threads=1, seed=9_c_int64_t), 'ctx alone')
  call expect(lam_ctx_create(ctx, n_threads=1, seed=9_c_int64_t), 'ctx')
  call expect(lam_mpi_attach(ctx, mine, h), 'attach to its own communicator')
  call expect(lam_model_create(alone, spec, [4], 3, 24, m1), 'model alone')
  call expect(lam_model_create(ctx, spec, [4], 3, 24, m2), 'model')
  call expect(lam_optim_create(alone, m1, LAM_OPTIM_SGD, 0.1d0, o1, momentum=0.9d0), 'sgd 1')
  call expect(lam_optim_create(ctx, m2, LAM_OPTIM_SGD, 0.1d0, o2, momentum=0.9d0), 'sgd 2')
  call expect(lam_fit_labels(m1, o1, x, labels, epochs=3, batch=24, lr=0.1d0, chunk=6), &
              'fit alone in chunks of 6')
  call expect(lam_fit_labels(m2, o2, x, labels, epochs=3, batch=24, lr=0.1d0, chunk=6), &
              'fit over the ranks in chunks of 6')
  call expect(lam_predict_array(m1, x, p1), 'predict alone')
  call expect(lam_predict_array(m2, x, p2), 'predict')
  if (any(transfer(p1, 1_c_int32_t, 3 * n) /= transfer(p2, 1_c_int32_t, 3 * n))) then
    print '(a, i0, a)', 'FAIL rank ', world, ': the ranks'' model differs from the single process'
    call MPI_Abort(MPI_COMM_WORLD, 1, ierr)
  end if
  print '(a, i0, a)', 'ok   rank ', world, ': same predictions, bit for bit'
  call lam_mpi_detach(h)
  call lam_optim_destroy(o1)
  call lam_optim_destroy(o2)
  call lam_model_destroy(m1)
  call lam_model_destroy(m2)
  call lam_ctx_destroy(ctx)
  call lam_ctx_destroy(alone)
  call MPI_Comm_free(mine, ierr)
  call MPI_Finalize(ierr)

contains

  subroutine expect(got, what)
    integer, intent(in) :: got
    character(len=*), intent(in) :: what
    integer :: e
    if (got /= LAM_OK) then
      print '(a, i0, a, a, a, i0)', 'FAIL rank ', world, ': ', what, ': status ', got
      call MPI_Abort(MPI_COMM_WORLD, 1, e)
    end if
  end subroutine expect
end program test_mpi
