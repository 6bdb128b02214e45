"""The training loop: epochs over the frame-pair dataset, checkpoints, resume, logging, visualisations.

Generic over model families: the training model of the chosen family and stage (ppgan.models.training) declares
its config section (`train`, or e.g. `train_avd`), its optimizers (:class:`~ppgan.solver.OptimizerSpec`, learning
rates divided by 10 at the section's `epoch_milestones`, real epochs) and does one step in `train_iter`.
Several processes (``python -m paddle.distributed.launch``) each read their own shard of every
epoch and average gradients; only rank 0 writes files.
"""
import copy
import os
import random

import numpy as np
import paddle
import yaml
from tqdm import tqdm

from ppgan.datasets import build_dataset
from ppgan.models import build_model
from ppgan.models.builder import DEFAULT_STAGE
from ppgan.models.training import TrainingDiverged, check_frame_size
from ppgan.solver import build_solver
from ppgan.utils.checkpoint import NET_NAMES, load_weights, read_weights
from ppgan.utils.errors import CheckpointError, ConfigError
from ppgan.utils.io import atomic_path, atomic_write
from ppgan.utils.logger import get_logger
from ppgan.utils.visual import Visualizer
from ppgan.utils.video import save_image

logger = get_logger("ppgan.engine")

CHECKPOINT_NAME = "checkpoint.pdparams"


def set_seed(seed):
    """Seed Python, numpy and Paddle."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    paddle.seed(seed)


def world():
    """(rank, number of processes) of this run."""
    return paddle.distributed.get_rank(), paddle.distributed.get_world_size()


def average_gradients(params):
    """All-reduce (mean) the gradients of `params` across processes."""
    n = paddle.distributed.get_world_size()
    with paddle.no_grad():
        for p in params:
            if p.grad is not None:
                paddle.distributed.all_reduce(p.grad)
                p.grad.set_value(p.grad * (1.0 / n))


def structured_names(nets):
    """{structured name: parameter} of a net, or of several ({net name: net}: names prefixed '<net>.')."""
    if isinstance(nets, paddle.nn.Layer):
        return dict(nets.named_parameters())
    if len(nets) == 1:
        return dict(next(iter(nets.values())).named_parameters())
    return {"%s.%s" % (name, n): p for name, net in nets.items() for n, p in net.named_parameters()}


def optimizer_state(optimizer, nets):
    """The optimizer's state keyed by the structured parameter names of `nets` ('conv.weight@moment1_0'; with
    several nets, {name: net}, 'kp_detector.conv.weight@moment1_0').

    Paddle keys optimizer state by global parameter names (conv2d_7.w_0) that depend on how many
    layers the process created before; structured names make a checkpoint resumable anywhere.
    """
    names = {p.name: n for n, p in structured_names(nets).items()}
    by_length = sorted(names, key=len, reverse=True)
    out = {}
    for key, value in optimizer.state_dict().items():
        if key == "master_weights":
            out[key] = {names.get(k, k): v for k, v in value.items()}
            continue
        owner = next((n for n in by_length if key.startswith(n + "_")), None)
        out[key if owner is None else "%s@%s" % (names[owner], key[len(owner) + 1:])] = value
    return out


def load_optimizer_state(optimizer, nets, state):
    """Inverse of :func:`optimizer_state` for the parameters of this process."""
    names = {n: p.name for n, p in structured_names(nets).items()}
    converted = {}
    for key, value in state.items():
        if key == "master_weights":
            converted[key] = {names.get(k, k): v for k, v in value.items()}
        elif "@" in key:
            structured, suffix = key.rsplit("@", 1)
            if structured not in names:
                raise CheckpointError("the checkpoint's optimizer state names parameter '%s', which this model does "
                                      "not have; was it written with another config?" % structured)
            converted["%s_%s" % (names[structured], suffix)] = value
        else:
            converted[key] = value
    optimizer.set_state_dict(converted)


def checkpoint_path(output_dir):
    return os.path.join(output_dir, "checkpoints", CHECKPOINT_NAME)


def read_checkpoint(path):
    """A training checkpoint: nets, optimizer and scheduler states, epoch and iteration."""
    if os.path.isdir(path):
        path = checkpoint_path(path)
    if not os.path.isfile(path):
        raise CheckpointError("no checkpoint at '%s'; --resume takes a run's output folder or its "
                              "checkpoints/%s" % (path, CHECKPOINT_NAME))
    state = read_weights(path)
    if "epoch" not in state or not any(k.startswith("optimizer_") for k in state):
        raise CheckpointError("'%s' holds weights only (no optimizer state or epoch); resume needs a checkpoint "
                              "written by training. To start from these weights use --load" % path)
    return path, state


class Trainer:
    """Builds model, data and optimizers from a validated config, and runs the training epochs.

    output_dir: where checkpoints/, visuals/, train.log and config.yaml go.
    resume: a checkpoint (or output folder) to continue, with optimizer state, epoch and iteration.
    load: weights to start from (a .pdparams or a PyTorch checkpoint); the optimizers start fresh.
    stage: the family's training stage (`train`; the thin-plate spline model also has `avd`).
    """

    def __init__(self, config, output_dir, resume=None, load=None, seed=0, amp=False, progress=True,
                 build_data=True, stage=DEFAULT_STAGE):
        self.config = config
        self.stage = stage
        self.output_dir = output_dir
        self.rank, self.world_size = world()
        self.is_main = self.rank == 0
        self.progress = progress and self.is_main
        if self.world_size > 1:
            paddle.distributed.init_parallel_env()
        self.seed = int(seed)
        set_seed(self.seed + self.rank)

        self.model = build_model(config, stage=stage)
        self.section = self.model.train_section
        self.train_cfg = config[self.section]
        if resume is not None and load is not None:
            raise ConfigError("give either --resume (continue a run) or --load (start from weights), not both")
        if self.model.requires_weights and resume is None and load is None:
            raise ConfigError(self.model.requires_weights)
        check_frame_size(*self.model.animation_nets(self.model.nets), config["dataset"]["frame_shape"])
        if self.world_size > 1 and paddle.device.get_device().startswith("gpu"):
            for name, net in self.model.nets.items():
                setattr(self.model, name, paddle.nn.SyncBatchNorm.convert_sync_batchnorm(net))
        self.scaler = self._amp_scaler(amp)
        self.optimizer_specs = {spec.name: spec for spec in self.model.optimizer_specs()}
        self.optimizers, self.schedulers = build_solver(self.optimizer_specs.values(), self.model.nets,
                                                        self.train_cfg, self.section)
        self.visualizer = Visualizer(**config["visualizer"])
        self.start_epoch, self.iteration = 0, 0

        if resume is not None:
            self._resume(resume)
        elif load is not None:
            weights = read_weights(load)
            load_weights(self.model.nets, weights, "the weights in '%s'" % load)
            logger.info("loaded weights from %s", load)
        self.dataloader = self._dataloader() if build_data else None

    def _amp_scaler(self, amp):
        if not amp:
            return None
        if not paddle.device.get_device().startswith("gpu"):
            raise ConfigError("--amp (float16 mixed precision) needs a GPU; this run is on %s"
                              % paddle.device.get_device())
        return paddle.amp.GradScaler(init_loss_scaling=1024)

    def _dataloader(self):
        dataset = build_dataset(self.config["dataset"], "train", self.train_cfg["num_repeats"])
        batch_size = int(self.train_cfg["batch_size"])
        if batch_size < 1:
            raise ConfigError("must be at least 1", self.section + ".batch_size")
        sampler = paddle.io.DistributedBatchSampler(dataset, batch_size=batch_size, shuffle=True, drop_last=True,
                                                    num_replicas=self.world_size, rank=self.rank)
        if len(sampler) == 0:
            raise ConfigError("the training set has %d items per process, fewer than %s.batch_size=%d; lower "
                              "the batch size or raise %s.num_repeats" % (len(dataset) // self.world_size, self.section,
                                                                         batch_size, self.section),
                              self.section + ".batch_size")
        self.sampler = sampler
        return paddle.io.DataLoader(dataset, batch_sampler=sampler, num_workers=int(self.train_cfg["num_workers"]),
                                    use_shared_memory=False)

    # --- checkpoints -----------------------------------------------------------------------------
    def _optimized_nets(self, name):
        """{net name: net} that optimizer `name` updates."""
        return {net: self.model.nets[net] for net in self.optimizer_specs[name].nets}

    def state(self, epoch):
        """Everything needed to continue: weights, optimizers, schedulers, epoch, iteration (and the stage, when
        it is not the default one)."""
        state = {name: net.state_dict() for name, net in self.model.nets.items()}
        for name, opt in self.optimizers.items():
            state["optimizer_" + name] = optimizer_state(opt, self._optimized_nets(name))
        for name, sched in self.schedulers.items():
            state["scheduler_" + name] = sched.state_dict()
        state["epoch"] = epoch
        state["iteration"] = self.iteration
        if self.stage != DEFAULT_STAGE:
            state["stage"] = self.stage
        return state

    def save_checkpoint(self, epoch):
        """Write checkpoints/checkpoint.pdparams (and a per-epoch copy of the weights), atomically."""
        if not self.is_main:
            return None
        path = checkpoint_path(self.output_dir)
        with atomic_path(path) as tmp:
            paddle.save(self.state(epoch), tmp)
        weights = os.path.join(os.path.dirname(path), "epoch_%05d.pdparams" % (epoch + 1))
        with atomic_path(weights) as tmp:
            paddle.save({name: net.state_dict() for name, net in self.model.nets.items()}, tmp)
        logger.info("epoch %d: checkpoint %s", epoch + 1, path)
        return path

    def _resume(self, resume):
        path, state = read_checkpoint(resume)
        written = str(state.get("stage", DEFAULT_STAGE))
        if written != self.stage:
            raise CheckpointError("checkpoint '%s' was written by the training stage '%s', not '%s': resume it with "
                                  "--stage %s, or start this stage from its weights with --load"
                                  % (path, written, self.stage, written))
        load_weights(self.model.nets, {k: state[k] for k in NET_NAMES if k in state}, "the checkpoint '%s'" % path)
        for name, opt in self.optimizers.items():
            key = "optimizer_" + name
            if key not in state:
                raise CheckpointError("checkpoint '%s' has no %s; it was written by a run with other loss weights "
                                      "or another model (to start from its weights, use --load)" % (path, key))
            load_optimizer_state(opt, self._optimized_nets(name), state[key])
        for name, sched in self.schedulers.items():
            if "scheduler_" + name in state:
                sched.set_state_dict(state["scheduler_" + name])
        self.start_epoch = int(state["epoch"]) + 1
        self.iteration = int(state.get("iteration", 0))
        logger.info("resumed from %s at epoch %d, iteration %d", path, self.start_epoch + 1, self.iteration)

    # --- training --------------------------------------------------------------------------------
    def _prepare_output(self):
        if not self.is_main:
            return
        os.makedirs(os.path.join(self.output_dir, "checkpoints"), exist_ok=True)
        os.makedirs(os.path.join(self.output_dir, "visuals"), exist_ok=True)
        with atomic_write(os.path.join(self.output_dir, "config.yaml"), "w") as f:
            yaml.safe_dump(copy.deepcopy(self.config), f, sort_keys=False)

    def _writer(self):
        if not self.is_main:
            return None
        try:
            from visualdl import LogWriter
        except ImportError:
            logger.info("VisualDL is not installed (pip install visualdl); losses go to the log only")
            return None
        return LogWriter(logdir=os.path.join(self.output_dir, "vdl"))

    def train(self):
        """Run the remaining epochs; returns the path of the last checkpoint."""
        self._prepare_output()
        writer = self._writer()
        num_epochs = int(self.train_cfg["num_epochs"])
        log_freq = max(1, int(self.train_cfg["log_freq"]))
        last = checkpoint_path(self.output_dir) if self.start_epoch > 0 else None
        if self.start_epoch >= num_epochs:
            logger.info("nothing to do: the checkpoint is at epoch %d of %d", self.start_epoch, num_epochs)
            return last
        logger.info("training %s for epochs %d-%d on %d process(es); %s", self.output_dir, self.start_epoch + 1,
                    num_epochs, self.world_size, self.model.describe())
        try:
            for epoch in range(self.start_epoch, num_epochs):
                # Seeding each epoch makes a resumed run draw what the uninterrupted run would have drawn.
                set_seed(self.seed + 1000 * epoch + self.rank)
                self.sampler.set_epoch(epoch)
                means, generated, batch = self._train_epoch(epoch, num_epochs, writer, log_freq)
                for sched in self.schedulers.values():
                    sched.step()
                logger.info("epoch %d/%d: %s", epoch + 1, num_epochs,
                            " ".join("%s %.4f" % kv for kv in means.items()))
                freq = max(1, int(self.train_cfg["checkpoint_freq"]))
                if (epoch + 1) % freq == 0 or epoch + 1 == num_epochs:
                    last = self.save_checkpoint(epoch) or last
                    self._visualise(epoch, batch, generated, writer)
        except TrainingDiverged as e:
            where = ("the last checkpoint, %s, is kept" % last) if last else "no checkpoint was written yet"
            raise TrainingDiverged("%s; %s" % (e, where)) from None
        finally:
            if writer is not None:
                writer.close()
        return last

    def _train_epoch(self, epoch, num_epochs, writer, log_freq):
        self.model.train()
        sums, count, generated, batch = {}, 0, None, None
        bar = tqdm(self.dataloader, desc="epoch %d/%d" % (epoch + 1, num_epochs), unit="it",
                   disable=not self.progress, leave=False)
        reduce = average_gradients if self.world_size > 1 else None
        for batch in bar:
            values, generated = self.model.train_iter(batch, self.optimizers, reduce, self.scaler, epoch=epoch)
            self.iteration += 1
            count += 1
            for k, v in values.items():
                sums[k] = sums.get(k, 0.0) + v
            bar.set_postfix({k: "%.3f" % v for k, v in values.items()}, refresh=False)
            if self.iteration % log_freq == 0 and self.is_main:
                logger.info("iteration %d: %s", self.iteration, " ".join("%s %.4f" % kv for kv in values.items()))
                if writer is not None:
                    for k, v in values.items():
                        writer.add_scalar("train/" + k, v, self.iteration)
        return {k: v / max(count, 1) for k, v in sums.items()}, generated, batch

    def _visualise(self, epoch, batch, generated, writer):
        if not self.is_main or generated is None:
            return
        image = self.visualizer.visualize(*self.model.visuals(batch, generated))
        save_image(os.path.join(self.output_dir, "visuals", "epoch_%05d.png" % (epoch + 1)), image)
        if writer is not None:
            writer.add_image("train/visual", image, epoch + 1)
