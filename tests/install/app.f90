! An outside Fortran program built against an installed lamina, as tests/install/run.sh does:
!
!     gfortran app.f90 $(pkg-config --cflags --libs lamina-fortran) -o app_f
!
! It fits y = sin(2 x1) * x2 on its own Fortran arrays x(samples, features), which lamina
! reads in place (column-major, no copy), with Adam and then L-BFGS; saves the model, loads it
! back, predicts again, and checks the status of every call.
! Usage: app_f CHECKPOINT_PATH. Stops with code 0 on success, 1 on any failure.
! (docs/embedding.md shows this file verbatim; a test keeps the two identical.)
program app_f
  use, intrinsic :: iso_c_binding, only: c_float, c_double
  use lamina
  implicit none

  integer, parameter :: n = 512
  type(lam_ctx) :: ctx
  type(lam_model) :: model, loaded, bad
  type(lam_optim) :: opt
  type(lam_fit_report) :: rep
  real(c_float) :: x(n, 2), y(n, 1), pred(n, 1), again(n, 1)
  real(c_double) :: mse
  character(len=256) :: path
  integer :: i, st

  path = 'app_f.safetensors'
  if (command_argument_count() >= 1) then
    call get_command_argument(1, path)
  end if
  do i = 1, n
    x(i, 1) = real(mod(i - 1, 32), c_float) / 16 - 1
    x(i, 2) = real((i - 1) / 32, c_float) / 8 - 1
    y(i, 1) = sin(2 * x(i, 1)) * x(i, 2)
  end do

  ! One thread for lamina's loops: the host decides how its cores are shared.
  st = lam_ctx_create(ctx, n_threads=1)
  if (st /= LAM_OK) then
    print '(2a)', 'app_f: context: ', lam_strerror(st)
    stop 1
  end if
  call check(lam_model_create(ctx, 'linear:32 tanh linear:out', [2], 1, 64, model), 'model')
  call check(lam_optim_create(ctx, model, LAM_OPTIM_ADAM, 1.0d-2, opt), 'optimizer')
  call check(lam_fit(model, opt, x, y, epochs=50, batch=32, lr=1.0d-2, report=rep), 'fit')
  call check(lam_fit_lbfgs(model, x, y, max_iters=100, report=rep), 'l-bfgs')
  call check(lam_predict_array(model, x, pred), 'predict')
  mse = sum(real(pred - y, c_double)**2) / n
  print '(a, i0, a, es9.2)', 'trained, then ', rep%steps, ' L-BFGS iterations: MSE ', mse

  ! Save, load into a new model, and predict again: the results must be identical.
  call check(lam_checkpoint_save(model, path), 'save')
  call check(lam_checkpoint_load(ctx, path, 64, loaded), 'load')
  call check(lam_predict_array(loaded, x, again), 'predict (loaded)')
  if (maxval(abs(pred - again)) > 0) then
    print '(a)', 'app_f: the loaded model predicts differently'
    call finish(1)
  end if

  ! Errors come back as a status and a message, never as output or a stop.
  st = lam_model_create(ctx, 'linear:8 no-such-layer', [2], 1, 64, bad)
  if (st /= LAM_ERR_FORMAT .or. len(lam_ctx_errmsg(ctx)) == 0) then
    print '(a)', 'app_f: a bad spec was not reported'
    call finish(1)
  end if
  print '(4a)', 'a bad spec gives ', lam_strerror(st), ': ', lam_ctx_errmsg(ctx)
  if (mse >= 0.01d0) then
    call finish(1)
  end if
  call finish(0)

contains

  ! Stop with the context's message when a lamina call failed.
  subroutine check(status, what)
    integer, intent(in) :: status
    character(len=*), intent(in) :: what

    if (status /= LAM_OK) then
      print '(5a)', 'app_f: ', what, ': ', lam_strerror(status), ': ' // lam_ctx_errmsg(ctx)
      call finish(1)
    end if
  end subroutine check

  ! Destroy everything (null handles are no-ops) and stop with `code`.
  subroutine finish(code)
    integer, intent(in) :: code

    call lam_model_destroy(loaded)
    call lam_optim_destroy(opt)
    call lam_model_destroy(model)
    call lam_ctx_destroy(ctx)
    if (code /= 0) then
      stop 1
    end if
    stop
  end subroutine finish

end program app_f
