package dev.keel.train;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;

import com.fasterxml.jackson.databind.JsonNode;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import dev.keel.KeelException;
import dev.keel.model.BackwardPass;
import dev.keel.dist.Distributed;
import dev.keel.tensor.Tensors;

/**
 * The loop every supervised trainer shares: AdamW with two parameter groups (decay and no decay), a
 * learning-rate schedule, gradient accumulation, global-norm clipping, periodic evaluation,
 * {@code metrics.jsonl}, and {@link Checkpoints} that resume exactly.
 *
 * <p>A run killed at any moment resumes from the newest checkpoint and ends with the same weights as a run
 * never interrupted (data order is a function of seed and epoch, and CPU kernels are deterministic at a fixed
 * thread count).
 *
 * <p>Data-parallel ({@link #distributed}): {@code batchSize} is per rank, and the global batches, their order and
 * the averaging are those of one process with batches of {@code batchSize × ranks}. Each rank runs its shard of
 * every batch, the gradients are summed over the ranks before clipping and the step, and only rank 0 writes
 * metrics, checkpoints and the final model; every rank resumes from them.
 */
public final class TrainingLoop<T> {
    private final ModelState model;
    private final Task<T> task;
    private final OptimConfig optim;
    private final TrainConfig train;
    private final Path out;
    private Consumer<Map<String, Object>> listener = m -> { };
    private Consumer<String> info = System.err::println;
    private java.util.function.LongConsumer afterStep = step -> { };
    private Distributed dist = Distributed.single();

    public TrainingLoop(ModelState model, Task<T> task, OptimConfig optim, TrainConfig train, Path out) {
        this.model = model;
        this.task = task;
        this.optim = optim;
        this.train = train;
        this.out = out;
    }

    /** Where status lines go (resuming, warnings); standard error by default. */
    public TrainingLoop<T> onInfo(Consumer<String> l) {
        this.info = l;
        return this;
    }

    /** Called with each logged metrics line (tests and progress displays use it). */
    public TrainingLoop<T> onLog(Consumer<Map<String, Object>> l) {
        this.listener = l;
        return this;
    }

    /** Called after each optimizer step with the step count (e.g. to evaluate the model on the way). */
    public TrainingLoop<T> onStep(java.util.function.LongConsumer l) {
        this.afterStep = l;
        return this;
    }

    /** Trains as one rank of {@code d} (a single process by default). */
    public TrainingLoop<T> distributed(Distributed d) {
        this.dist = d;
        return this;
    }

    /** Examples per optimizer-step batch over all ranks: {@code batchSize × ranks}. */
    private int globalBatch() {
        return train.batchSize() * dist.size();
    }

    /** The outcome: steps taken and the last training and evaluation metrics. */
    public record Result(long steps, Map<String, Object> lastLog, Map<String, Double> eval) {}

    public long totalSteps(int trainSize) {
        long batches = (trainSize + globalBatch() - 1) / globalBatch();
        long perEpoch = (batches + train.gradAccum() - 1) / train.gradAccum();
        return train.maxSteps() > 0 ? train.maxSteps() : perEpoch * train.epochs();
    }

    public Result run(List<T> trainSet, List<T> evalSet, boolean resume) {
        if (trainSet.isEmpty()) {
            throw new KeelException("no training examples");
        }
        if (dist.isMain()) {
            MetricsLog.createFolder(out);
        }
        long total = totalSteps(trainSet.size());
        Map<String, Tensor> params = model.parameters();
        params.values().forEach(p -> p.set_requires_grad(true));
        FusedAdamW opt = Optimizers.adamW(params, optim);
        Checkpoints checkpoints = new Checkpoints(out, train.saveTotalLimit());
        Path ckpt = resume ? restoreNewestIntact(opt) : null;
        Position pos = ckpt != null ? position(ckpt) : fresh();
        int nBatches = (trainSet.size() + globalBatch() - 1) / globalBatch();
        Map<String, Object> lastLog = new LinkedHashMap<>();
        Map<String, Double> evalMetrics = Map.of();
        try (MetricsLog log = dist.isMain() ? MetricsLog.open(out.resolve("metrics.jsonl"), ckpt != null ? pos.step : -1) : null;
             ProgressBar bar = progressBar(total, pos.step);
             StopSignal stop = StopSignal.install()) {
            while (pos.step < total) {
                List<List<T>> batches = batches(trainSet, pos.epoch);
                while (pos.batchInEpoch < nBatches && pos.step < total) {
                    int k = Math.min(train.gradAccum(), nBatches - pos.batchInEpoch);
                    double lr = optim.lrAt(pos.step, total);
                    double gradNorm = step(batches.subList(pos.batchInEpoch, pos.batchInEpoch + k), opt, params, lr,
                            pos, total);
                    pos.step++;
                    pos.batchInEpoch += k;
                    bar.step();
                    boolean last = pos.step == total;
                    if (pos.step % train.logEvery() == 0 || last) {
                        lastLog = logInterval(pos, lr, gradNorm, nBatches, log);
                        bar.setExtraMessage(String.format(" loss %.4f", lastLog.get("loss")));
                    }
                    if ((train.evalEvery() > 0 && pos.step % train.evalEvery() == 0 || last) && !evalSet.isEmpty()) {
                        evalMetrics = evaluate(evalSet);
                        logEval(evalMetrics, pos, nBatches, log);
                    }
                    if (train.saveEvery() > 0 && pos.step % train.saveEvery() == 0 && !last && dist.isMain()) {
                        checkpoints.save(pos.step, model, opt, pos.toJson(train.seed()));
                    }
                    afterStep.accept(pos.step);
                    if (!last) {
                        stop.check("step", pos.step, out);
                    }
                }
                if (pos.batchInEpoch >= nBatches) {
                    pos.epoch++;
                    pos.batchInEpoch = 0;
                }
            }
        }
        if (dist.isMain()) {
            model.save(out);
        }
        return new Result(pos.step, lastLog, evalMetrics);
    }

    /**
     * One optimizer step over the accumulation window: each batch's loss sum divided by the window's weight is
     * back-propagated (so the window averages as one large batch would), then clip and step. A non-finite loss
     * stops the run before the step. Data-parallel, each rank runs its shard of each batch, divides by the whole
     * window's weight (every rank knows the global batches) and the gradients are summed over the ranks.
     */
    private double step(List<List<T>> window, FusedAdamW opt, Map<String, Tensor> params, double lr, Position pos,
                        long total) {
        double w = 0;
        for (List<T> b : window) {
            w += task.weight(b);
        }
        if (w <= 0) {
            throw new KeelException("a batch at step " + pos.step + " has nothing to learn from "
                    + "(weight 0, e.g. every completion token truncated away)");
        }
        RankSums sums = new RankSums();
        for (List<T> b : window) {
            List<T> mine = dist.shard(b);
            if (mine.isEmpty()) {
                // a rank without a share of a short last batch runs one example at weight 0, so that its
                // gradients exist (as zeros) and it takes part in every reduction
                try (PointerScope scope = new PointerScope(); BackwardPass pass = BackwardPass.open()) {
                    Task.Output o = task.forward(b.subList(0, 1));
                    sums.addNothing(o);
                    pass.backward(o.lossSum().mul(Tensors.s(0.0)));
                }
                continue;
            }
            for (BatchBackward.Part lane : BatchBackward.run(task, mine, w, window.size() == 1 && model.backwardSplits())) {
                if (!Double.isFinite(lane.loss())) {
                    Path last = Checkpoints.latest(out);
                    throw new KeelException("loss is " + lane.loss() + " at step " + pos.step + " (lr "
                            + optim.lrAt(pos.step, total) + "); stopping. "
                            + (last != null ? "The last checkpoint, " + last.getFileName() + ", is intact."
                            : "No checkpoint was written."));
                }
                sums.add(lane.loss(), lane.output());
            }
        }
        pos.add(sums.overRanks(dist));
        pos.intervalWeight += w;
        try (PointerScope scope = new PointerScope()) {
            dist.sumGradients(params.values());
            return Optimizers.step(opt, params.values(), lr, optim.maxGradNorm());
        }
    }

    /** Writes the metrics line of the steps since the last one, and starts a new interval. */
    private Map<String, Object> logInterval(Position pos, double lr, double gradNorm, int nBatches, MetricsLog log) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("step", pos.step);
        m.put("epoch", pos.epoch + (double) pos.batchInEpoch / nBatches);
        m.put("lr", lr);
        m.put("loss", pos.intervalLoss / pos.intervalWeight);
        m.put("grad_norm", gradNorm);
        Map<String, Double> averages = averages(pos.intervalMetrics.values(), pos.intervalWeight);
        m.putAll(averages);
        m.putAll(task.derived(averages));
        if (pos.numTokens > 0) {
            m.put("num_tokens", (long) pos.numTokens);
        }
        if (log != null) {
            log.write(m);
        }
        listener.accept(m);
        pos.startInterval();
        return m;
    }

    private void logEval(Map<String, Double> evalMetrics, Position pos, int nBatches, MetricsLog log) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("step", pos.step);
        m.put("epoch", pos.epoch + (double) pos.batchInEpoch / nBatches);
        evalMetrics.forEach(m::put);
        if (log != null) {
            log.write(m);
        }
        listener.accept(m);
    }

    /**
     * Held-out metrics, named {@code eval_loss} and {@code eval_<metric>} as transformers' Trainer does;
     * data-parallel, each rank evaluates its shard of each batch and the sums are combined.
     */
    public Map<String, Double> evaluate(List<T> evalSet) {
        double weight = 0;
        RankSums local = new RankSums();
        for (int i = 0; i < evalSet.size(); i += globalBatch()) {
            List<T> b = evalSet.subList(i, Math.min(evalSet.size(), i + globalBatch()));
            List<T> mine = dist.shard(b);
            try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
                Task.Output o = task.forward(mine.isEmpty() ? b.subList(0, 1) : mine);
                if (mine.isEmpty()) {
                    local.addNothing(o);
                } else {
                    local.add(Tensors.item(o.lossSum()), o);
                }
                weight += task.weight(b);
            }
        }
        RankSums sums = local.overRanks(dist);
        Map<String, Double> out = new LinkedHashMap<>();
        out.put("eval_loss", sums.loss / Math.max(weight, 1e-12));
        Map<String, Double> averages = averages(sums.metrics.values(), Math.max(weight, 1e-12));
        averages.forEach((k, v) -> out.put("eval_" + k, v));
        task.derived(averages).forEach((k, v) -> out.put("eval_" + k, v));
        return out;
    }

    /** Each metric's logged value; a ratio over no examples is left out, as TRL's KTO leaves it out. */
    private static Map<String, Double> averages(java.util.Collection<Metric> metrics, double weight) {
        Map<String, Double> out = new LinkedHashMap<>();
        for (Metric e : metrics) {
            if (e.how() != Metric.Combine.RATIO || e.count() > 0) {
                out.put(e.name(), e.average(weight));
            }
        }
        return out;
    }

    /** The training set split into batches in the order of {@code epoch}: a shuffle seeded by (seed, epoch). */
    private List<List<T>> batches(List<T> set, int epoch) {
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < set.size(); i++) {
            order.add(i);
        }
        Collections.shuffle(order, new Random(train.seed() * 1_000_003L + epoch));
        List<List<T>> out = new ArrayList<>();
        for (int i = 0; i < order.size(); i += globalBatch()) {
            List<T> b = new ArrayList<>();
            for (int j = i; j < Math.min(order.size(), i + globalBatch()); j++) {
                b.add(set.get(order.get(j)));
            }
            out.add(b);
        }
        return out;
    }

    private ProgressBar progressBar(long total, long start) {
        ProgressBarBuilder b = new ProgressBarBuilder().setTaskName("train").setInitialMax(total)
                .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(1000).startsFrom(start, java.time.Duration.ZERO);
        if (!train.progress() || !dist.isMain()) {
            b.setConsumer(new me.tongfei.progressbar.DelegatingProgressBarConsumer(s -> { }));
        }
        return b.build();
    }

    private Position fresh() {
        torch.manual_seed(train.seed());
        return new Position();
    }

    private JsonNode restoredState;

    /**
     * Restores the newest checkpoint that reads back whole; one that does not (a corrupt or truncated file) is
     * named and the one before it is tried. Null when there is none (a fresh start).
     */
    private Path restoreNewestIntact(FusedAdamW opt) {
        List<Path> all = new ArrayList<>(Checkpoints.all(out));
        if (all.isEmpty()) {
            info.accept("keel: --resume given but " + out + " has no complete checkpoint; starting fresh");
            return null;
        }
        Collections.reverse(all);
        List<String> failures = new ArrayList<>();
        for (Path ckpt : all) {
            try {
                restoredState = Checkpoints.restore(ckpt, model, opt);
                if (!failures.isEmpty()) {
                    info.accept("keel: resuming from the previous intact checkpoint, " + ckpt.getFileName());
                }
                return ckpt;
            } catch (KeelException e) {
                failures.add(e.getMessage());
                info.accept("keel: cannot resume from " + ckpt.getFileName() + ": " + e.getMessage());
            }
        }
        throw new KeelException("--resume: no checkpoint in " + out + " reads back whole: " + String.join("; ", failures));
    }

    private Position position(Path ckpt) {
        JsonNode s = restoredState;
        if (s.path("seed").asLong() != train.seed()) {
            throw new KeelException(ckpt + " was written with --seed " + s.path("seed").asLong() + ", not "
                    + train.seed() + "; resume with the same settings");
        }
        Position pos = Position.fromJson(s);
        info.accept("keel: resuming from " + ckpt + " (step " + pos.step + ")");
        return pos;
    }
}
