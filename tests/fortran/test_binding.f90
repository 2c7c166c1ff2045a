! Tests of the Fortran binding (module `lamina`) beyond what the examples show:
!  - training reads the caller's column-major arrays in place and leaves them bit-identical;
!  - 4 host OpenMP threads, each with its own context (n_threads = 1) and a clone of the
!    model, predict at once and match the serial prediction exactly;
!  - classification with 0-based labels, checkpoints with optimizer state;
!  - failures come back as statuses with a message (shapes, bad files, bad arguments), and
!    destroy routines take null handles.
! Exits 0 on success, 1 on the first failed check.
program test_binding
  use, intrinsic :: iso_c_binding, only: c_float, c_double, c_int32_t, c_int64_t
  use lamina
  implicit none

  integer, parameter :: n = 300, nthreads = 4
  type(lam_ctx) :: ctx
  type(lam_model) :: model, other
  type(lam_optim) :: opt
  type(lam_fit_report) :: rep
  real(c_float) :: x(n, 3), y(n, 2), x0(n, 3), y0(n, 2), p(n, 2), wrong(n, 3)
  integer(c_int32_t) :: labels(n)
  integer :: i, st, bad
  character(len=*), parameter :: ckpt = 'test_binding.safetensors'

  do i = 1, n
    x(i, 1) = real(mod(7 * i, 31), c_float) / 15 - 1
    x(i, 2) = real(mod(11 * i, 29), c_float) / 14 - 1
    x(i, 3) = real(mod(13 * i, 23), c_float) / 11 - 1
    y(i, 1) = x(i, 1) * x(i, 2) - x(i, 3)
    y(i, 2) = sin(3 * x(i, 1)) + x(i, 3)**2
    labels(i) = merge(1_c_int32_t, 0_c_int32_t, x(i, 1) + x(i, 2) > 0)
  end do
  x0 = x
  y0 = y

  call expect(lam_ctx_create(ctx, n_threads=2, seed=5_c_int64_t), LAM_OK, 'ctx')
  call expect(lam_model_create(ctx, 'linear:16 tanh linear:out', [3], 2, 64, model), &
              LAM_OK, 'model')
  call expect(lam_optim_create(ctx, model, LAM_OPTIM_SGD, 0.05d0, opt, momentum=0.9d0), &
              LAM_OK, 'sgd')
  call expect(lam_fit(model, opt, x, y, epochs=20, batch=32, lr=0.05d0, report=rep), &
              LAM_OK, 'fit')
  ! 300 samples in batches of 32: 9 full batches and maybe a last partial one per epoch.
  if (rep%steps /= 20 * 10 .and. rep%steps /= 20 * 9) then
    call fail('fit reported an unexpected number of steps')
  end if
  if (.not. (rep%final_loss < 0.2d0)) then
    call fail('fit did not learn')
  end if
  ! Bit-identical, compared as integers so that -0.0 /= 0.0 and NaN payloads would count.
  if (any(transfer(x, 1_c_int32_t, 3 * n) /= transfer(x0, 1_c_int32_t, 3 * n)) .or. &
      any(transfer(y, 1_c_int32_t, 2 * n) /= transfer(y0, 1_c_int32_t, 2 * n))) then
    call fail('training wrote the caller''s arrays')
  end if
  call expect(lam_predict_array(model, x, p), LAM_OK, 'predict')

  ! Concurrent inference from the host's own OpenMP threads.
  bad = 0
  !$omp parallel num_threads(nthreads) reduction(+:bad)
  bad = bad + predict_in_thread()
  !$omp end parallel
  if (bad /= 0) then
    call fail('a thread''s prediction differs from the serial one')
  end if

  ! Checkpoint with optimizer state; the loaded model predicts the same.
  call expect(lam_checkpoint_save(model, ckpt, opt), LAM_OK, 'save')
  call expect(lam_checkpoint_load(ctx, ckpt, 16, other), LAM_OK, 'load')
  call same_prediction(other, 'loaded model')
  call lam_model_destroy(other)

  ! Failures: a status and a message, never a stop.
  st = lam_predict_array(model, x, wrong)
  call expect(st, LAM_ERR_SHAPE, 'predict into y of the wrong shape')
  st = lam_fit(model, opt, x, y(1:n - 1, :), epochs=1, batch=32, lr=0.05d0)
  call expect(st, LAM_ERR_SHAPE, 'fit with fewer targets than samples')
  call expect_message('fit with fewer targets than samples')
  st = lam_fit(model, opt, x(:, 1:2), y, epochs=1, batch=32, lr=0.05d0)
  call expect(st, LAM_ERR_SHAPE, 'fit with too few features')
  call expect_message('fit with too few features')
  st = lam_checkpoint_load(ctx, 'no/such/file.safetensors', 16, other)
  call expect(st, LAM_ERR_IO, 'load a missing file')
  if (index(lam_ctx_errmsg(ctx), 'no/such/file.safetensors') == 0) then
    call fail('the message does not name the missing file: ' // lam_ctx_errmsg(ctx))
  end if
  call lam_optim_destroy(opt)
  if (len(lam_strerror(LAM_ERR_IO)) == 0) then
    call fail('lam_strerror gave an empty string')
  end if
  st = lam_optim_create(ctx, model, LAM_OPTIM_ADAM, 1.0d-3, opt, momentum=0.9d0)
  call expect(st, LAM_ERR_ARG, 'Adam with a momentum')
  call expect_message('Adam with a momentum')

  ! Classification with 0-based labels.
  call lam_model_destroy(model)
  call expect(lam_model_create(ctx, 'linear:8 relu linear:out', [3], 2, 64, model), &
              LAM_OK, 'classifier')
  call expect(lam_optim_create(ctx, model, LAM_OPTIM_ADAM, 1.0d-2, opt), LAM_OK, 'adam')
  call expect(lam_fit_labels(model, opt, x, labels, epochs=30, batch=32, lr=1.0d-2, &
                             report=rep), LAM_OK, 'fit labels')
  if (.not. (rep%final_loss < 0.3d0)) then
    call fail('the classifier did not learn')
  end if

  ! Destroy twice: the handles were reset to null, which destroy accepts.
  call lam_optim_destroy(opt)
  call lam_model_destroy(model)
  call lam_optim_destroy(opt)
  call lam_model_destroy(model)
  call lam_ctx_destroy(ctx)
  call lam_ctx_destroy(ctx)
  open (unit=10, file=ckpt, status='old', iostat=st)
  if (st == 0) then
    close (10, status='delete')
  end if
  print '(a)', 'test_binding: all checks passed'

contains

  subroutine fail(what)
    character(len=*), intent(in) :: what

    print '(2a)', 'FAIL ', what
    stop 1
  end subroutine fail

  subroutine expect(got, want, what)
    integer, intent(in) :: got, want
    character(len=*), intent(in) :: what

    if (got /= want) then
      print '(a, a, a, i0, a, i0, 3a)', 'FAIL ', what, ': status ', got, ' (want ', want, &
        '): ', lam_ctx_errmsg(ctx)
      stop 1
    end if
  end subroutine expect

  subroutine expect_message(what)
    character(len=*), intent(in) :: what

    if (len(lam_ctx_errmsg(ctx)) == 0) then
      call fail(what // ': no message')
    end if
    print '(4a)', 'ok ', what, ': ', lam_ctx_errmsg(ctx)
  end subroutine expect_message

  subroutine same_prediction(m, what)
    type(lam_model), intent(in) :: m
    character(len=*), intent(in) :: what
    real(c_float) :: q(n, 2)

    call expect(lam_predict_array(m, x, q), LAM_OK, what)
    if (any(transfer(q, 1_c_int32_t, 2 * n) /= transfer(p, 1_c_int32_t, 2 * n))) then
      call fail(what // ' predicts differently')
    end if
  end subroutine same_prediction

  ! One host thread: its own context and clone, a full prediction, compared bit for bit.
  ! Returns the number of failures (0 or 1).
  function predict_in_thread() result(nbad)
    integer :: nbad
    type(lam_ctx) :: tctx
    type(lam_model) :: clone
    real(c_float) :: q(n, 2)
    integer :: s, r

    nbad = 1
    s = lam_ctx_create(tctx, n_threads=1)
    if (s == LAM_OK) then
      s = lam_model_clone(tctx, model, 64, clone)
    end if
    if (s == LAM_OK) then
      ! Repeat so the threads' predictions overlap in time.
      do r = 1, 20
        s = lam_predict_array(clone, x, q)
        if (s /= LAM_OK) then
          exit
        end if
        if (any(transfer(q, 1_c_int32_t, 2 * n) /= transfer(p, 1_c_int32_t, 2 * n))) then
          s = LAM_ERR_NUMERIC
          exit
        end if
      end do
    end if
    if (s == LAM_OK) then
      nbad = 0
    end if
    call lam_model_destroy(clone)
    call lam_ctx_destroy(tctx)
  end function predict_in_thread

end program test_binding
