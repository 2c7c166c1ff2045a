! lamina: Fortran binding (module `lamina`) of the C API in lamina.h and lamina/fit.h.
!
! Fortran 2003 with iso_c_binding, plus the Fortran 2008 `contiguous` attribute on array
! arguments (gfortran >= 4.7, ifort/ifx, flang, nvfortran), which is what lets lamina use a
! caller's array in place.
!
! Conventions:
!  - Names are the C names; a wrapper's doc in docs/embedding.md lists where it differs.
!  - Every function that can fail returns the C status (LAM_OK = 0, or a negative LAM_ERR_*);
!    lam_ctx_errmsg(ctx) gives the detail as a Fortran string, lam_strerror(st) names a code.
!    Destroy routines are subroutines: they cannot fail and accept a null handle.
!  - Handles (lam_ctx, lam_model, lam_optim) wrap a C pointer. A create writes its handle
!    only on success. Handles are not freed automatically: destroy models and optimizers
!    before their context. Copies of a handle refer to the same object.
!  - Data are Fortran arrays x(samples, features) and y(samples, outputs), i.e. column-major.
!    They are handed to lamina with col_major = 1 and read in place: no copy of the set is
!    made (unless you pass a non-contiguous section, for which the compiler makes one) and
!    lamina never writes them.
module lamina
  use, intrinsic :: iso_c_binding, only: c_ptr, c_null_ptr, c_associated, c_loc, &
    c_f_pointer, c_char, c_null_char, c_int, c_int32_t, c_int64_t, c_float, c_double, &
    c_size_t
  implicit none
  private

  ! Status codes of lamina/core.h; values are never reused or renumbered.
  integer, parameter, public :: LAM_OK = 0
  integer, parameter, public :: LAM_ERR_ARG = -1
  integer, parameter, public :: LAM_ERR_SHAPE = -2
  integer, parameter, public :: LAM_ERR_LAYOUT = -3
  integer, parameter, public :: LAM_ERR_NOMEM = -4
  integer, parameter, public :: LAM_ERR_IO = -5
  integer, parameter, public :: LAM_ERR_FORMAT = -6
  integer, parameter, public :: LAM_ERR_NUMERIC = -7
  integer, parameter, public :: LAM_ERR_RANGE = -8
  integer, parameter, public :: LAM_ERR_STATE = -9

  ! Optimizers (lam_optim_kind) and losses (lam_loss_kind).
  integer, parameter, public :: LAM_OPTIM_SGD = 0
  integer, parameter, public :: LAM_OPTIM_ADAM = 1
  integer, parameter, public :: LAM_OPTIM_ADAMW = 2
  integer, parameter, public :: LAM_OPTIM_RMSPROP = 3
  integer, parameter, public :: LAM_LOSS_SOFTMAX_XENT = 1
  integer, parameter, public :: LAM_LOSS_MSE = 2
  integer, parameter, public :: LAM_LOSS_L1 = 3
  integer, parameter, public :: LAM_LOSS_HUBER = 4

  type, public :: lam_ctx
    type(c_ptr) :: p = c_null_ptr
  end type lam_ctx

  type, public :: lam_model
    type(c_ptr) :: p = c_null_ptr
  end type lam_model

  type, public :: lam_optim
    type(c_ptr) :: p = c_null_ptr
  end type lam_optim

  ! What a fit reports (lam_fit_report).
  type, public :: lam_fit_report
    real(c_double) :: final_loss = 0    ! mean loss of the last epoch or iteration
    integer(c_int64_t) :: steps = 0     ! optimizer steps or iterations
    integer(c_int64_t) :: evaluations = 0 ! full-batch loss evaluations (LM, L-BFGS)
    real(c_double) :: seconds = 0
  end type lam_fit_report

  public :: lam_ctx_create, lam_ctx_destroy, lam_ctx_errmsg, lam_ctx_threads, lam_strerror
  public :: lam_model_create, lam_model_destroy, lam_model_clone, lam_model_param_count
  public :: lam_model_n_out
  public :: lam_optim_create, lam_optim_destroy
  public :: lam_fit, lam_fit_labels, lam_fit_lm, lam_fit_lbfgs, lam_predict_array
  public :: lam_checkpoint_save, lam_checkpoint_load

  ! The C functions. Those with descriptor structs go through fortran/lamina_f.c.
  interface
    function c_strerror(st) bind(c, name='lam_strerror') result(s)
      import :: c_int, c_ptr
      integer(c_int), value :: st
      type(c_ptr) :: s
    end function c_strerror

    function c_strlen(s) bind(c, name='lam__f_strlen') result(n)
      import :: c_ptr, c_size_t
      type(c_ptr), value :: s
      integer(c_size_t) :: n
    end function c_strlen

    function c_ctx_create(n_threads, seed, out) bind(c, name='lam__f_ctx_create') result(st)
      import :: c_int, c_int64_t, c_ptr
      integer(c_int), value :: n_threads
      integer(c_int64_t), value :: seed
      type(c_ptr), intent(inout) :: out
      integer(c_int) :: st
    end function c_ctx_create

    subroutine c_ctx_destroy(ctx) bind(c, name='lam_ctx_destroy')
      import :: c_ptr
      type(c_ptr), value :: ctx
    end subroutine c_ctx_destroy

    function c_ctx_errmsg(ctx) bind(c, name='lam_ctx_errmsg') result(s)
      import :: c_ptr
      type(c_ptr), value :: ctx
      type(c_ptr) :: s
    end function c_ctx_errmsg

    function c_ctx_threads(ctx) bind(c, name='lam_ctx_threads') result(n)
      import :: c_ptr, c_int
      type(c_ptr), value :: ctx
      integer(c_int) :: n
    end function c_ctx_threads

    function c_model_create(ctx, spec, in_ndim, in_shape, n_out, max_batch, out) &
        bind(c, name='lam_model_create') result(st)
      import :: c_ptr, c_char, c_int, c_int64_t
      type(c_ptr), value :: ctx
      character(kind=c_char), intent(in) :: spec(*)
      integer(c_int), value :: in_ndim
      integer(c_int64_t), intent(in) :: in_shape(*)
      integer(c_int64_t), value :: n_out, max_batch
      type(c_ptr), intent(inout) :: out
      integer(c_int) :: st
    end function c_model_create

    subroutine c_model_destroy(m) bind(c, name='lam_model_destroy')
      import :: c_ptr
      type(c_ptr), value :: m
    end subroutine c_model_destroy

    function c_model_clone(ctx, m, max_batch, out) bind(c, name='lam_model_clone') result(st)
      import :: c_ptr, c_int, c_int64_t
      type(c_ptr), value :: ctx, m
      integer(c_int64_t), value :: max_batch
      type(c_ptr), intent(inout) :: out
      integer(c_int) :: st
    end function c_model_clone

    function c_model_param_count(m) bind(c, name='lam_model_param_count') result(n)
      import :: c_ptr, c_int64_t
      type(c_ptr), value :: m
      integer(c_int64_t) :: n
    end function c_model_param_count

    subroutine c_model_out_shape(m, ndim, shape) bind(c, name='lam_model_out_shape')
      import :: c_ptr, c_int, c_int64_t
      type(c_ptr), value :: m
      integer(c_int), intent(out) :: ndim
      integer(c_int64_t), intent(out) :: shape(3)
    end subroutine c_model_out_shape

    function c_optim_create(ctx, m, kind, lr, momentum, weight_decay, out) &
        bind(c, name='lam__f_optim_create') result(st)
      import :: c_ptr, c_int, c_double
      type(c_ptr), value :: ctx, m
      integer(c_int), value :: kind
      real(c_double), value :: lr, momentum, weight_decay
      type(c_ptr), intent(inout) :: out
      integer(c_int) :: st
    end function c_optim_create

    subroutine c_optim_destroy(opt) bind(c, name='lam_optim_destroy')
      import :: c_ptr
      type(c_ptr), value :: opt
    end subroutine c_optim_destroy

    function c_fit(m, opt, x, xr, xc, y, yr, yc, labels, loss_kind, epochs, batch, lr, &
        shuffle, shuffle_seed, chunk, final_loss, steps, evals, seconds) &
        bind(c, name='lam__f_fit') result(st)
      import :: c_ptr, c_int, c_int64_t, c_double
      type(c_ptr), value :: m, opt, x, y, labels
      integer(c_int64_t), value :: xr, xc, yr, yc, epochs, batch, shuffle_seed, chunk
      integer(c_int), value :: loss_kind, shuffle
      real(c_double), value :: lr
      real(c_double), intent(out) :: final_loss, seconds
      integer(c_int64_t), intent(out) :: steps, evals
      integer(c_int) :: st
    end function c_fit

    function c_fit_lm(m, x, xr, xc, y, yr, yc, max_iters, max_seconds, final_loss, steps, &
        evals, seconds) bind(c, name='lam__f_fit_lm') result(st)
      import :: c_ptr, c_int, c_int64_t, c_double
      type(c_ptr), value :: m, x, y
      integer(c_int64_t), value :: xr, xc, yr, yc, max_iters
      real(c_double), value :: max_seconds
      real(c_double), intent(out) :: final_loss, seconds
      integer(c_int64_t), intent(out) :: steps, evals
      integer(c_int) :: st
    end function c_fit_lm

    function c_fit_lbfgs(m, x, xr, xc, y, yr, yc, max_iters, max_seconds, final_loss, &
        steps, evals, seconds) bind(c, name='lam__f_fit_lbfgs') result(st)
      import :: c_ptr, c_int, c_int64_t, c_double
      type(c_ptr), value :: m, x, y
      integer(c_int64_t), value :: xr, xc, yr, yc, max_iters
      real(c_double), value :: max_seconds
      real(c_double), intent(out) :: final_loss, seconds
      integer(c_int64_t), intent(out) :: steps, evals
      integer(c_int) :: st
    end function c_fit_lbfgs

    function c_predict(m, x, xr, xc, out) bind(c, name='lam__f_predict') result(st)
      import :: c_ptr, c_int, c_int64_t
      type(c_ptr), value :: m, x, out
      integer(c_int64_t), value :: xr, xc
      integer(c_int) :: st
    end function c_predict

    function c_checkpoint_save(m, opt, path, extras) bind(c, name='lam_checkpoint_save') &
        result(st)
      import :: c_ptr, c_char, c_int
      type(c_ptr), value :: m, opt, extras
      character(kind=c_char), intent(in) :: path(*)
      integer(c_int) :: st
    end function c_checkpoint_save

    function c_checkpoint_open(ctx, path, out) bind(c, name='lam_checkpoint_open') result(st)
      import :: c_ptr, c_char, c_int
      type(c_ptr), value :: ctx
      character(kind=c_char), intent(in) :: path(*)
      type(c_ptr), intent(inout) :: out
      integer(c_int) :: st
    end function c_checkpoint_open

    function c_checkpoint_model(ck, max_batch, out) bind(c, name='lam_checkpoint_model') &
        result(st)
      import :: c_ptr, c_int, c_int64_t
      type(c_ptr), value :: ck
      integer(c_int64_t), value :: max_batch
      type(c_ptr), intent(inout) :: out
      integer(c_int) :: st
    end function c_checkpoint_model

    subroutine c_checkpoint_close(ck) bind(c, name='lam_checkpoint_close')
      import :: c_ptr
      type(c_ptr), value :: ck
    end subroutine c_checkpoint_close
  end interface

contains

  ! A NUL-terminated C string as a Fortran string ('' for a null pointer).
  function from_c_string(p) result(s)
    type(c_ptr), intent(in) :: p
    character(len=:), allocatable :: s
    character(kind=c_char), pointer :: chars(:)
    integer :: i, n, ierr

    n = int(c_strlen(p))
    ! stat= keeps an allocation failure from stopping the host program (an empty message).
    allocate(character(len=n) :: s, stat=ierr)
    if (ierr /= 0) then
      n = 0
      allocate(character(len=0) :: s, stat=ierr)
    end if
    if (n == 0) then
      return
    end if
    call c_f_pointer(p, chars, [n])
    do i = 1, n
      s(i:i) = chars(i)
    end do
  end function from_c_string

  ! The address of a Fortran array, or null when it is empty (c_loc of an empty array is not
  ! defined); lamina then reports the bad argument with a message.
  function float_ptr(a) result(p)
    real(c_float), intent(in), target, contiguous :: a(:,:)
    type(c_ptr) :: p

    p = c_null_ptr
    if (size(a) > 0) then
      p = c_loc(a(1, 1))
    end if
  end function float_ptr

  ! As float_ptr, for an array lamina writes.
  function float_ptr_out(a) result(p)
    real(c_float), intent(inout), target, contiguous :: a(:,:)
    type(c_ptr) :: p

    p = c_null_ptr
    if (size(a) > 0) then
      p = c_loc(a(1, 1))
    end if
  end function float_ptr_out

  ! Create a context. n_threads: threads of lamina's own parallel loops (0 or absent: the
  ! OpenMP default); seed: seed of every random stream (absent: 0).
  function lam_ctx_create(ctx, n_threads, seed) result(st)
    type(lam_ctx), intent(inout) :: ctx
    integer, intent(in), optional :: n_threads
    integer(c_int64_t), intent(in), optional :: seed
    integer :: st
    integer(c_int) :: nt
    integer(c_int64_t) :: sd

    nt = 0
    sd = 0
    if (present(n_threads)) then
      nt = int(n_threads, c_int)
    end if
    if (present(seed)) then
      sd = seed
    end if
    st = int(c_ctx_create(nt, sd, ctx%p))
  end function lam_ctx_create

  ! Destroy a context (a null handle is a no-op) and reset the handle.
  subroutine lam_ctx_destroy(ctx)
    type(lam_ctx), intent(inout) :: ctx

    call c_ctx_destroy(ctx%p)
    ctx%p = c_null_ptr
  end subroutine lam_ctx_destroy

  ! The detail message of the last failed call on ctx ('' if none).
  function lam_ctx_errmsg(ctx) result(msg)
    type(lam_ctx), intent(in) :: ctx
    character(len=:), allocatable :: msg

    if (.not. c_associated(ctx%p)) then
      msg = 'no context'
      return
    end if
    msg = from_c_string(c_ctx_errmsg(ctx%p))
  end function lam_ctx_errmsg

  ! The thread count of the context's parallel loops.
  function lam_ctx_threads(ctx) result(n)
    type(lam_ctx), intent(in) :: ctx
    integer :: n

    n = int(c_ctx_threads(ctx%p))
  end function lam_ctx_threads

  ! The name of a status code.
  function lam_strerror(st) result(msg)
    integer, intent(in) :: st
    character(len=:), allocatable :: msg

    msg = from_c_string(c_strerror(int(st, c_int)))
  end function lam_strerror

  ! Build a model from a spec (a built-in name or a spec string, see the README) for samples
  ! of shape in_shape ([features] or [channels, height, width]), n_out outputs and batches
  ! of at most max_batch samples.
  function lam_model_create(ctx, spec, in_shape, n_out, max_batch, model) result(st)
    type(lam_ctx), intent(in) :: ctx
    character(len=*), intent(in) :: spec
    integer, intent(in) :: in_shape(:)
    integer, intent(in) :: n_out, max_batch
    type(lam_model), intent(inout) :: model
    integer :: st
    integer(c_int64_t) :: shp(max(1, size(in_shape)))

    shp = 0
    shp(1:size(in_shape)) = int(in_shape, c_int64_t)
    st = int(c_model_create(ctx%p, trim(spec) // c_null_char, int(size(in_shape), c_int), &
                            shp, int(n_out, c_int64_t), int(max_batch, c_int64_t), model%p))
  end function lam_model_create

  ! Destroy a model (a null handle is a no-op) and reset the handle.
  subroutine lam_model_destroy(model)
    type(lam_model), intent(inout) :: model

    call c_model_destroy(model%p)
    model%p = c_null_ptr
  end subroutine lam_model_destroy

  ! A copy of model (spec, weights, buffers) on ctx, for batches of at most max_batch, that
  ! shares no mutable state with it: give each host thread its own context and clone to
  ! predict concurrently.
  function lam_model_clone(ctx, model, max_batch, clone) result(st)
    type(lam_ctx), intent(in) :: ctx
    type(lam_model), intent(in) :: model
    integer, intent(in) :: max_batch
    type(lam_model), intent(inout) :: clone
    integer :: st

    st = int(c_model_clone(ctx%p, model%p, int(max_batch, c_int64_t), clone%p))
  end function lam_model_clone

  ! Number of trainable parameters.
  function lam_model_param_count(model) result(n)
    type(lam_model), intent(in) :: model
    integer(c_int64_t) :: n

    n = c_model_param_count(model%p)
  end function lam_model_param_count

  ! Number of outputs per sample (the product of the output shape); 0 for a null handle.
  function lam_model_n_out(model) result(n)
    type(lam_model), intent(in) :: model
    integer :: n
    integer(c_int) :: ndim
    integer(c_int64_t) :: shp(3)

    n = 0
    if (.not. c_associated(model%p)) then
      return
    end if
    call c_model_out_shape(model%p, ndim, shp)
    n = int(product(shp(1:ndim)))
  end function lam_model_n_out

  ! Create an optimizer (LAM_OPTIM_SGD, _ADAM, _ADAMW, _RMSPROP) over every parameter of
  ! model, with PyTorch's defaults except lr and, if given, momentum and weight_decay.
  function lam_optim_create(ctx, model, kind, lr, opt, momentum, weight_decay) result(st)
    type(lam_ctx), intent(in) :: ctx
    type(lam_model), intent(in) :: model
    integer, intent(in) :: kind
    real(c_double), intent(in) :: lr
    type(lam_optim), intent(inout) :: opt
    real(c_double), intent(in), optional :: momentum, weight_decay
    integer :: st
    real(c_double) :: mom, wd

    mom = 0
    wd = 0
    if (present(momentum)) then
      mom = momentum
    end if
    if (present(weight_decay)) then
      wd = weight_decay
    end if
    st = int(c_optim_create(ctx%p, model%p, int(kind, c_int), lr, mom, wd, opt%p))
  end function lam_optim_create

  ! Destroy an optimizer (a null handle is a no-op) and reset the handle.
  subroutine lam_optim_destroy(opt)
    type(lam_optim), intent(inout) :: opt

    call c_optim_destroy(opt%p)
    opt%p = c_null_ptr
  end subroutine lam_optim_destroy

  ! Shared by lam_fit and lam_fit_labels: the first-order loop of lamina/fit.h.
  function fit_common(model, opt, x, yp, yr, yc, labels, loss, epochs, batch, lr, shuffle, &
                      shuffle_seed, report, chunk) result(st)
    type(lam_model), intent(in) :: model
    type(lam_optim), intent(in) :: opt
    real(c_float), intent(in), target, contiguous :: x(:,:)
    type(c_ptr), intent(in) :: yp, labels
    integer(c_int64_t), intent(in) :: yr, yc
    integer, intent(in) :: loss, epochs, batch
    real(c_double), intent(in) :: lr
    logical, intent(in), optional :: shuffle
    integer(c_int64_t), intent(in), optional :: shuffle_seed
    type(lam_fit_report), intent(out), optional :: report
    integer, intent(in), optional :: chunk
    integer :: st
    type(lam_fit_report) :: rep
    integer(c_int) :: shuf
    integer(c_int64_t) :: seed, ck

    shuf = 1
    seed = 0
    ck = 0
    if (present(chunk)) then
      ck = int(chunk, c_int64_t)
    end if
    if (present(shuffle)) then
      shuf = merge(1_c_int, 0_c_int, shuffle)
    end if
    if (present(shuffle_seed)) then
      seed = shuffle_seed
    end if
    st = int(c_fit(model%p, opt%p, float_ptr(x), size(x, 1, kind=c_int64_t), &
                   size(x, 2, kind=c_int64_t), yp, yr, yc, labels, int(loss, c_int), &
                   int(epochs, c_int64_t), int(batch, c_int64_t), lr, shuf, seed, ck, &
                   rep%final_loss, rep%steps, rep%evaluations, rep%seconds))
    if (present(report)) then
      report = rep
    end if
  end function fit_common

  ! Train on x(samples, features) against y(samples, n_out) with opt: `epochs` passes in
  ! batches of `batch` samples at learning rate lr. loss: LAM_LOSS_MSE (default), _L1 or
  ! _HUBER. Samples are shuffled each epoch unless shuffle = .false. chunk > 0: a
  ! data-parallel fit over the ranks attached to the context (module lamina_mpi); every rank
  ! passes the same arrays and the weights are the same bits on any number of ranks.
  function lam_fit(model, opt, x, y, epochs, batch, lr, loss, shuffle, shuffle_seed, &
                   report, chunk) result(st)
    type(lam_model), intent(in) :: model
    type(lam_optim), intent(in) :: opt
    real(c_float), intent(in), target, contiguous :: x(:,:), y(:,:)
    integer, intent(in) :: epochs, batch
    real(c_double), intent(in) :: lr
    integer, intent(in), optional :: loss
    logical, intent(in), optional :: shuffle
    integer(c_int64_t), intent(in), optional :: shuffle_seed
    type(lam_fit_report), intent(out), optional :: report
    integer, intent(in), optional :: chunk
    integer :: st
    integer :: lk

    lk = LAM_LOSS_MSE
    if (present(loss)) then
      lk = loss
    end if
    st = fit_common(model, opt, x, float_ptr(y), size(y, 1, kind=c_int64_t), &
                    size(y, 2, kind=c_int64_t), c_null_ptr, lk, epochs, batch, lr, shuffle, &
                    shuffle_seed, report, chunk)
  end function lam_fit

  ! Train a classifier on x(samples, features) against labels(samples) in [0, n_out) with
  ! softmax cross-entropy (labels are 0-based, as in C).
  function lam_fit_labels(model, opt, x, labels, epochs, batch, lr, shuffle, shuffle_seed, &
                          report, chunk) result(st)
    type(lam_model), intent(in) :: model
    type(lam_optim), intent(in) :: opt
    real(c_float), intent(in), target, contiguous :: x(:,:)
    integer(c_int32_t), intent(in), target, contiguous :: labels(:)
    integer, intent(in) :: epochs, batch
    real(c_double), intent(in) :: lr
    logical, intent(in), optional :: shuffle
    integer(c_int64_t), intent(in), optional :: shuffle_seed
    type(lam_fit_report), intent(out), optional :: report
    integer, intent(in), optional :: chunk
    integer :: st
    type(c_ptr) :: lp

    ! lamina reads one label per row of x: a shorter array must not reach it.
    if (size(labels) /= size(x, 1)) then
      st = LAM_ERR_SHAPE
      return
    end if
    lp = c_null_ptr
    if (size(labels) > 0) then
      lp = c_loc(labels(1))
    end if
    st = fit_common(model, opt, x, c_null_ptr, 0_c_int64_t, 0_c_int64_t, lp, &
                    LAM_LOSS_SOFTMAX_XENT, epochs, batch, lr, shuffle, shuffle_seed, report, &
                    chunk)
  end function lam_fit_labels

  ! Levenberg-Marquardt on the whole set (sum-of-squares loss), at most max_iters steps and,
  ! if given, max_seconds of wall time. Needs a lamina built with LAPACKE.
  function lam_fit_lm(model, x, y, max_iters, max_seconds, report) result(st)
    type(lam_model), intent(in) :: model
    real(c_float), intent(in), target, contiguous :: x(:,:), y(:,:)
    integer, intent(in) :: max_iters
    real(c_double), intent(in), optional :: max_seconds
    type(lam_fit_report), intent(out), optional :: report
    integer :: st
    type(lam_fit_report) :: rep
    real(c_double) :: secs

    secs = 0
    if (present(max_seconds)) then
      secs = max_seconds
    end if
    st = int(c_fit_lm(model%p, float_ptr(x), size(x, 1, kind=c_int64_t), &
                      size(x, 2, kind=c_int64_t), float_ptr(y), size(y, 1, kind=c_int64_t), &
                      size(y, 2, kind=c_int64_t), int(max_iters, c_int64_t), secs, &
                      rep%final_loss, rep%steps, rep%evaluations, rep%seconds))
    if (present(report)) then
      report = rep
    end if
  end function lam_fit_lm

  ! L-BFGS with a strong-Wolfe line search on the whole set (MSE loss).
  function lam_fit_lbfgs(model, x, y, max_iters, max_seconds, report) result(st)
    type(lam_model), intent(in) :: model
    real(c_float), intent(in), target, contiguous :: x(:,:), y(:,:)
    integer, intent(in) :: max_iters
    real(c_double), intent(in), optional :: max_seconds
    type(lam_fit_report), intent(out), optional :: report
    integer :: st
    type(lam_fit_report) :: rep
    real(c_double) :: secs

    secs = 0
    if (present(max_seconds)) then
      secs = max_seconds
    end if
    st = int(c_fit_lbfgs(model%p, float_ptr(x), size(x, 1, kind=c_int64_t), &
                         size(x, 2, kind=c_int64_t), float_ptr(y), &
                         size(y, 1, kind=c_int64_t), size(y, 2, kind=c_int64_t), &
                         int(max_iters, c_int64_t), secs, &
                         rep%final_loss, rep%steps, rep%evaluations, rep%seconds))
    if (present(report)) then
      report = rep
    end if
  end function lam_fit_lbfgs

  ! Inference: y(samples, n_out) = model(x(samples, features)). With one output, lamina
  ! writes y directly; with several, it writes a temporary (n_out, samples) array, which is
  ! transposed into y. A null model gives LAM_ERR_ARG and y of the wrong shape LAM_ERR_SHAPE,
  ! without a message: these checks happen on the Fortran side, which cannot set the
  ! context's message. Not thread-safe on one model: give each thread its own context and a
  ! lam_model_clone.
  function lam_predict_array(model, x, y) result(st)
    type(lam_model), intent(in) :: model
    real(c_float), intent(in), target, contiguous :: x(:,:)
    real(c_float), intent(inout), target, contiguous :: y(:,:)
    integer :: st
    integer :: k, ierr
    real(c_float), allocatable, target :: t(:,:)

    if (.not. c_associated(model%p)) then
      st = LAM_ERR_ARG
      return
    end if
    k = lam_model_n_out(model)
    if (size(y, 1) /= size(x, 1) .or. size(y, 2) /= k) then
      st = LAM_ERR_SHAPE
      return
    end if
    if (k == 1) then
      ! A (samples x 1) row-major result is laid out as a Fortran y(samples, 1).
      st = int(c_predict(model%p, float_ptr(x), size(x, 1, kind=c_int64_t), &
                         size(x, 2, kind=c_int64_t), float_ptr_out(y)))
      return
    end if
    allocate(t(k, size(x, 1)), stat=ierr)
    if (ierr /= 0) then
      st = LAM_ERR_NOMEM
      return
    end if
    st = int(c_predict(model%p, float_ptr(x), size(x, 1, kind=c_int64_t), &
                       size(x, 2, kind=c_int64_t), float_ptr_out(t)))
    if (st == LAM_OK) then
      y = transpose(t)
    end if
  end function lam_predict_array

  ! Save the model (and the optimizer state, if opt is given) to a safetensors file,
  ! atomically: a failed save leaves a previous file intact.
  function lam_checkpoint_save(model, path, opt) result(st)
    type(lam_model), intent(in) :: model
    character(len=*), intent(in) :: path
    type(lam_optim), intent(in), optional :: opt
    integer :: st
    type(c_ptr) :: op

    op = c_null_ptr
    if (present(opt)) then
      op = opt%p
    end if
    st = int(c_checkpoint_save(model%p, op, trim(path) // c_null_char, c_null_ptr))
  end function lam_checkpoint_save

  ! Build the model a checkpoint describes, for batches of at most max_batch, with its
  ! weights (lam_checkpoint_open + lam_checkpoint_model + lam_checkpoint_close).
  function lam_checkpoint_load(ctx, path, max_batch, model) result(st)
    type(lam_ctx), intent(in) :: ctx
    character(len=*), intent(in) :: path
    integer, intent(in) :: max_batch
    type(lam_model), intent(inout) :: model
    integer :: st
    type(c_ptr) :: ck

    ck = c_null_ptr
    st = int(c_checkpoint_open(ctx%p, trim(path) // c_null_char, ck))
    if (st /= LAM_OK) then
      return
    end if
    st = int(c_checkpoint_model(ck, int(max_batch, c_int64_t), model%p))
    call c_checkpoint_close(ck)
  end function lam_checkpoint_load

end module lamina
