! A neural surrogate inside a simulation's time loop, in Fortran through the `lamina` module:
! the Fortran twin of examples/surrogate.c (same oscillator, network and training).
!
! The simulation is a forced Duffing oscillator, x'' + delta x' + alpha x + beta x^3 =
! gamma cos(omega t), integrated with RK4. Each step of the time loop advances an ensemble of
! trajectories by one forcing period (n_sub RK4 sub-steps for the solver). The program
! samples the one-period map into its own Fortran arrays x(samples, 2) and y(samples, 2),
! which lamina reads in place (column-major, no copy), trains an MLP on them with Adam and
! then Levenberg-Marquardt, and runs the ensemble with the solver and with the surrogate.
!
! Usage: surrogate_f [MAX_RMS]. Stops with code 0 when the RMS state error along the
! surrogate's trajectories is below MAX_RMS (default 0.05), 1 otherwise or on any lamina
! error. The speedup is a report, not a check.
program surrogate_f
  use, intrinsic :: iso_c_binding, only: c_float, c_double, c_int64_t
  use lamina
  implicit none

  integer, parameter :: n_train = 4000, n_test = 1000, n_sub = 400
  integer, parameter :: members = 256, periods = 30
  real(c_double), parameter :: pi = 3.14159265358979323846d0
  real(c_double), parameter :: delta = 0.3d0, alpha = 1.0d0, beta = 1.0d0
  real(c_double), parameter :: gamma = 0.5d0, omega = 1.2d0

  type(lam_ctx) :: ctx
  type(lam_model) :: model
  type(lam_optim) :: opt
  type(lam_fit_report) :: rep
  real(c_float), allocatable :: x(:,:), y(:,:), xt(:,:), yt(:,:), pred(:,:), u(:,:), un(:,:)
  real(c_double), allocatable :: s(:,:)
  real(c_double) :: max_rms, t_solver, t_surrogate, sq, worst, rms, mse, d
  integer(c_int64_t) :: c0, c1, c2, rate
  integer :: st, i, k, step
  character(len=32) :: arg

  max_rms = 0.05d0
  if (command_argument_count() >= 1) then
    call get_command_argument(1, arg)
    read (arg, *) max_rms
  end if

  call seed_random()
  allocate(x(n_train, 2), y(n_train, 2), xt(n_test, 2), yt(n_test, 2), pred(n_test, 2))
  call make_samples(x, y)
  call make_samples(xt, yt)

  st = lam_ctx_create(ctx, seed=3_c_int64_t)
  if (st /= LAM_OK) then
    print '(a, a)', 'surrogate_f: context: ', lam_strerror(st)
    stop 1
  end if
  call check(lam_model_create(ctx, 'linear:16 tanh linear:16 tanh linear:out', [2], 2, &
                              members, model), 'model')

  ! Adam from the PyTorch initialisation, then Levenberg-Marquardt to refine.
  call check(lam_optim_create(ctx, model, LAM_OPTIM_ADAM, 3.0d-3, opt), 'optimizer')
  call check(lam_fit(model, opt, x, y, epochs=40, batch=64, lr=3.0d-3, &
                     shuffle_seed=11_c_int64_t, report=rep), 'adam')
  print '(a, i0, a, es10.3, a, f5.2, a)', 'adam: ', rep%steps, ' steps, training MSE ', &
    rep%final_loss, ', ', rep%seconds, ' s'
  call lam_optim_destroy(opt)
  call check(lam_fit_lm(model, x, y, max_iters=200, max_seconds=6.0d0, report=rep), 'lm')
  print '(a, i0, a, es10.3, a, f5.2, a)', 'levenberg-marquardt: ', rep%steps, &
    ' iterations, training loss ', rep%final_loss, ', ', rep%seconds, ' s'

  call check(lam_predict_array(model, xt, pred), 'predict')
  mse = sum(real(pred - yt, c_double)**2) / (2 * n_test)
  print '(a, es10.3)', 'one-period map, held-out MSE ', mse

  ! The time loop: the same ensemble by the solver, then by the surrogate.
  allocate(s(2, members), u(members, 2), un(members, 2))
  call random_number(s)
  s = 4 * s - 2
  u = real(transpose(s), c_float)
  t_solver = 0
  t_surrogate = 0
  sq = 0
  worst = 0
  do step = 1, periods
    call system_clock(c0, rate)
    do k = 1, members
      call solver_period(s(:, k))
    end do
    call system_clock(c1)
    call check(lam_predict_array(model, u, un), 'predict in the time loop')
    call system_clock(c2)
    t_solver = t_solver + real(c1 - c0, c_double) / rate
    t_surrogate = t_surrogate + real(c2 - c1, c_double) / rate
    u = un
    do k = 1, members
      do i = 1, 2
        d = abs(u(k, i) - s(i, k))
        sq = sq + d * d
        worst = max(worst, d)
      end do
    end do
  end do
  rms = sqrt(sq / (2 * members * periods))
  print '(a, i0, a, i0, a)', 'time loop: ', members, ' members x ', periods, ' periods'
  print '(a, es10.3, a, es10.3, a, f6.3, a)', '  error vs solver: RMS ', rms, ', max ', &
    worst, ' (limit RMS ', max_rms, ')'
  print '(a, f7.2, a, i0, a, f6.2, a, f6.1, a)', '  time per member-step: solver ', &
    1d6 * t_solver / (members * periods), ' us (', n_sub, ' RK4 sub-steps), surrogate ', &
    1d6 * t_surrogate / (members * periods), ' us: speedup ', &
    t_solver / max(t_surrogate, 1d-9), 'x'

  call lam_model_destroy(model)
  call lam_ctx_destroy(ctx)
  deallocate(x, y, xt, yt, pred, s, u, un)
  if (rms >= max_rms) then
    stop 1
  end if

contains

  ! Stop with the context's message when a lamina call failed.
  subroutine check(status, what)
    integer, intent(in) :: status
    character(len=*), intent(in) :: what

    if (status /= LAM_OK) then
      print '(5a)', 'surrogate_f: ', what, ': ', lam_strerror(status), ': ' // &
        lam_ctx_errmsg(ctx)
      call lam_optim_destroy(opt)
      call lam_model_destroy(model)
      call lam_ctx_destroy(ctx)
      stop 1
    end if
  end subroutine check

  ! A fixed seed for the intrinsic generator, so runs are repeatable.
  subroutine seed_random()
    integer :: n, j
    integer, allocatable :: sd(:)

    call random_seed(size=n)
    allocate(sd(n))
    sd = [(7919 * j + 17, j = 1, n)]
    call random_seed(put=sd)
  end subroutine seed_random

  function rhs(t, q) result(dq)
    real(c_double), intent(in) :: t, q(2)
    real(c_double) :: dq(2)

    dq(1) = q(2)
    dq(2) = -delta * q(2) - alpha * q(1) - beta * q(1)**3 + gamma * cos(omega * t)
  end function rhs

  ! The solver step: one forcing period from phase 0 in n_sub RK4 sub-steps.
  subroutine solver_period(q)
    real(c_double), intent(inout) :: q(2)
    real(c_double) :: h, t, k1(2), k2(2), k3(2), k4(2)
    integer :: j

    h = 2 * pi / omega / n_sub
    do j = 0, n_sub - 1
      t = j * h
      k1 = rhs(t, q)
      k2 = rhs(t + h / 2, q + h / 2 * k1)
      k3 = rhs(t + h / 2, q + h / 2 * k2)
      k4 = rhs(t + h, q + h * k3)
      q = q + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    end do
  end subroutine solver_period

  ! Random states in [-2, 2]^2 (rows of xs) and their images one period later (rows of ys).
  subroutine make_samples(xs, ys)
    real(c_float), intent(out) :: xs(:,:), ys(:,:)
    real(c_double) :: q(2)
    integer :: j

    do j = 1, size(xs, 1)
      call random_number(q)
      q = 4 * q - 2
      xs(j, :) = real(q, c_float)
      call solver_period(q)
      ys(j, :) = real(q, c_float)
    end do
  end subroutine make_samples

end program surrogate_f
