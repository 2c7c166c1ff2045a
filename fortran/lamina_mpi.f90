! Module lamina_mpi: the data-parallel hook of liblamina_mpi for Fortran programs. The
! program keeps its own communicator (an MPI integer handle, as `use mpi` gives it);
! lamina never calls MPI_Init.
!
!   call MPI_Init(ierr)
!   st = lam_mpi_attach(ctx, my_comm, h)          ! ctx trains with my_comm's ranks
!   st = lam_fit_labels(model, opt, x, labels, epochs, batch, lr, chunk=16)
!   call lam_mpi_detach(h)
module lamina_mpi
  use, intrinsic :: iso_c_binding
  use lamina, only: lam_ctx
  implicit none
  private

  ! A handle on the attachment (lam_mpi *).
  type, public :: lam_mpi_handle
    type(c_ptr) :: p = c_null_ptr
  end type lam_mpi_handle

  public :: lam_mpi_attach, lam_mpi_detach

  interface
    function c_mpi_attach_f(ctx, comm, out) bind(c, name='lam_mpi_attach_f') result(st)
      import :: c_ptr, c_int
      type(c_ptr), value :: ctx
      integer(c_int), value :: comm
      type(c_ptr), intent(inout) :: out
      integer(c_int) :: st
    end function c_mpi_attach_f

    subroutine c_mpi_detach(h) bind(c, name='lam_mpi_detach')
      import :: c_ptr
      type(c_ptr), value :: h
    end subroutine c_mpi_detach
  end interface

contains

  ! Attach ctx to the ranks of the Fortran communicator comm; 0 (LAM_OK) or a status.
  function lam_mpi_attach(ctx, comm, h) result(st)
    type(lam_ctx), intent(in) :: ctx
    integer, intent(in) :: comm
    type(lam_mpi_handle), intent(out) :: h
    integer :: st
    st = int(c_mpi_attach_f(ctx%p, int(comm, c_int), h%p))
  end function lam_mpi_attach

  ! Detach the context and free the duplicate communicator.
  subroutine lam_mpi_detach(h)
    type(lam_mpi_handle), intent(inout) :: h
    call c_mpi_detach(h%p)
    h%p = c_null_ptr
  end subroutine lam_mpi_detach
end module lamina_mpi
