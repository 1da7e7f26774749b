package dev.keel.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import dev.keel.KeelException;
import dev.keel.model.io.ModelFiles;
import dev.keel.model.io.Safetensors;
import dev.keel.tensor.Tensors;

/**
 * The loop every trainer shares: AdamW with two parameter groups (decay and no decay), a learning-rate
 * schedule, gradient accumulation, global-norm clipping, periodic evaluation, {@code metrics.jsonl}, and
 * checkpoints that resume exactly.
 *
 * <p>A checkpoint ({@code checkpoint-<step>/}) holds the model, the optimizer state, libtorch's RNG state
 * and the data position. It is written into a temporary folder and renamed, so a folder of that name is
 * always complete; a run killed at any moment resumes from the newest one and ends with the same weights as
 * a run never interrupted (data order is a function of seed and epoch, and CPU kernels are deterministic at
 * a fixed thread count).
 */
public final class TrainingLoop<T> {
    public static final String STATE_FILE = "trainer_state.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final ModelState model;
    private final Task<T> task;
    private final OptimConfig optim;
    private final TrainConfig train;
    private final Path out;
    private Consumer<Map<String, Object>> listener = m -> { };
    private Consumer<String> info = System.err::println;

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

    /** Where a run stands: what a checkpoint records besides tensors. */
    private static final class Position {
        long step;
        int epoch;
        int batchInEpoch;
        double numTokens;
        // what the next metrics line averages over: steps since the last line (a checkpoint between two lines
        // keeps them, so a resumed run logs the same numbers as an uninterrupted one)
        double intervalLoss;
        double intervalWeight;
        Map<String, Double> intervalSums = new LinkedHashMap<>();
    }

    /** The outcome: steps taken and the last training and evaluation metrics. */
    public record Result(long steps, Map<String, Object> lastLog, Map<String, Double> eval) {}

    public long totalSteps(int trainSize) {
        long batches = (trainSize + train.batchSize() - 1) / train.batchSize();
        long perEpoch = (batches + train.gradAccum() - 1) / train.gradAccum();
        return train.maxSteps() > 0 ? train.maxSteps() : perEpoch * train.epochs();
    }

    public Result run(List<T> trainSet, List<T> evalSet, boolean resume) {
        if (trainSet.isEmpty()) {
            throw new KeelException("no training examples");
        }
        long total = totalSteps(trainSet.size());
        Map<String, Tensor> params = model.parameters();
        params.values().forEach(p -> p.set_requires_grad(true));
        AdamW opt = optimizer(params);
        Position pos = new Position();
        Path ckpt = resume ? latestCheckpoint(out) : null;
        if (resume && ckpt == null) {
            info.accept("keel: --resume given but " + out + " has no complete checkpoint; starting fresh");
        }
        if (ckpt != null) {
            restore(ckpt, opt, pos);
        } else {
            torch.manual_seed(train.seed());
        }
        int nBatches = (trainSet.size() + train.batchSize() - 1) / train.batchSize();
        Map<String, Object> lastLog = new LinkedHashMap<>();
        Map<String, Double> evalMetrics = Map.of();
        try (MetricsLog log = MetricsLog.open(out.resolve("metrics.jsonl"), ckpt != null ? pos.step : -1);
             ProgressBar bar = progressBar(total, pos.step)) {
            while (pos.step < total) {
                List<List<T>> batches = batches(trainSet, pos.epoch);
                while (pos.batchInEpoch < nBatches && pos.step < total) {
                    int k = Math.min(train.gradAccum(), nBatches - pos.batchInEpoch);
                    List<List<T>> window = batches.subList(pos.batchInEpoch, pos.batchInEpoch + k);
                    double w = 0;
                    for (List<T> b : window) {
                        w += task.weight(b);
                    }
                    if (w <= 0) {
                        throw new KeelException("a batch at step " + pos.step + " has nothing to learn from "
                                + "(weight 0, e.g. every completion token truncated away)");
                    }
                    for (List<T> b : window) {
                        try (PointerScope scope = new PointerScope()) {
                            Task.Output o = task.forward(b);
                            double loss = Tensors.item(o.lossSum());
                            if (!Double.isFinite(loss)) {
                                Path last = latestCheckpoint(out);
                                throw new KeelException("loss is " + loss + " at step " + pos.step + " (lr "
                                        + optim.lrAt(pos.step, total) + "); stopping. "
                                        + (last != null ? "The last checkpoint, " + last.getFileName() + ", is intact."
                                        : "No checkpoint was written."));
                            }
                            o.lossSum().div(Tensors.s(w)).backward();
                            pos.intervalLoss += loss;
                            o.metricSums().forEach((m, v) -> pos.intervalSums.merge(m, v, combiner(m)));
                        }
                        for (Map.Entry<String, Double> e : task.totals(b).entrySet()) {
                            if (e.getKey().equals("num_tokens")) {
                                pos.numTokens += e.getValue();
                            }
                        }
                    }
                    pos.intervalWeight += w;
                    double lr = optim.lrAt(pos.step, total);
                    double gradNorm;
                    try (PointerScope scope = new PointerScope()) {
                        gradNorm = Optimizers.step(opt, params.values(), lr, optim.maxGradNorm());
                    }
                    pos.step++;
                    pos.batchInEpoch += k;
                    bar.step();
                    boolean last = pos.step == total;
                    if (pos.step % train.logEvery() == 0 || last) {
                        Map<String, Object> m = new LinkedHashMap<>();
                        m.put("step", pos.step);
                        m.put("epoch", pos.epoch + (double) pos.batchInEpoch / nBatches);
                        m.put("lr", lr);
                        m.put("loss", pos.intervalLoss / pos.intervalWeight);
                        m.put("grad_norm", gradNorm);
                        for (Map.Entry<String, Double> e : pos.intervalSums.entrySet()) {
                            m.put(e.getKey(), average(e.getKey(), e.getValue(), pos.intervalWeight));
                        }
                        if (pos.numTokens > 0) {
                            m.put("num_tokens", (long) pos.numTokens);
                        }
                        log.write(m);
                        listener.accept(m);
                        lastLog = m;
                        bar.setExtraMessage(String.format(" loss %.4f", pos.intervalLoss / pos.intervalWeight));
                        pos.intervalLoss = 0;
                        pos.intervalWeight = 0;
                        pos.intervalSums.clear();
                    }
                    if ((train.evalEvery() > 0 && pos.step % train.evalEvery() == 0 || last) && !evalSet.isEmpty()) {
                        evalMetrics = evaluate(evalSet);
                        Map<String, Object> m = new LinkedHashMap<>();
                        m.put("step", pos.step);
                        m.put("epoch", pos.epoch + (double) pos.batchInEpoch / nBatches);
                        evalMetrics.forEach(m::put);
                        log.write(m);
                        listener.accept(m);
                    }
                    if (train.saveEvery() > 0 && pos.step % train.saveEvery() == 0 && !last) {
                        saveCheckpoint(opt, pos);
                    }
                }
                if (pos.batchInEpoch >= nBatches) {
                    pos.epoch++;
                    pos.batchInEpoch = 0;
                }
            }
        }
        model.save(out);
        return new Result(pos.step, lastLog, evalMetrics);
    }

    /** Held-out metrics, named {@code eval_loss} and {@code eval_<metric>} as transformers' Trainer does. */
    public Map<String, Double> evaluate(List<T> evalSet) {
        double loss = 0;
        double weight = 0;
        Map<String, Double> sums = new LinkedHashMap<>();
        for (int i = 0; i < evalSet.size(); i += train.batchSize()) {
            List<T> b = evalSet.subList(i, Math.min(evalSet.size(), i + train.batchSize()));
            try (PointerScope scope = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
                Task.Output o = task.forward(b);
                loss += Tensors.item(o.lossSum());
                weight += task.weight(b);
                o.metricSums().forEach((m, v) -> sums.merge(m, v, combiner(m)));
            }
        }
        Map<String, Double> out = new LinkedHashMap<>();
        out.put("eval_loss", loss / Math.max(weight, 1e-12));
        for (Map.Entry<String, Double> e : sums.entrySet()) {
            out.put("eval_" + e.getKey(), average(e.getKey(), e.getValue(), Math.max(weight, 1e-12)));
        }
        return out;
    }

    /** Metrics named min_* and max_* are extremes over the batches; every other metric is a sum. */
    private static java.util.function.BinaryOperator<Double> combiner(String metric) {
        if (metric.startsWith("min_")) {
            return Math::min;
        }
        if (metric.startsWith("max_")) {
            return Math::max;
        }
        return Double::sum;
    }

    private static double average(String metric, double value, double weight) {
        return metric.startsWith("min_") || metric.startsWith("max_") ? value : value / weight;
    }

    /** The training set split into batches in the order of {@code epoch}: a shuffle seeded by (seed, epoch). */
    private List<List<T>> batches(List<T> set, int epoch) {
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < set.size(); i++) {
            order.add(i);
        }
        Collections.shuffle(order, new Random(train.seed() * 1_000_003L + epoch));
        List<List<T>> out = new ArrayList<>();
        for (int i = 0; i < order.size(); i += train.batchSize()) {
            List<T> b = new ArrayList<>();
            for (int j = i; j < Math.min(order.size(), i + train.batchSize()); j++) {
                b.add(set.get(order.get(j)));
            }
            out.add(b);
        }
        return out;
    }

    private AdamW optimizer(Map<String, Tensor> params) {
        return Optimizers.adamW(params, model::noDecay, optim);
    }

    private ProgressBar progressBar(long total, long start) {
        ProgressBarBuilder b = new ProgressBarBuilder().setTaskName("train").setInitialMax(total)
                .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(1000).startsFrom(start, java.time.Duration.ZERO);
        if (!train.progress()) {
            b.setConsumer(new me.tongfei.progressbar.DelegatingProgressBarConsumer(s -> { }));
        }
        return b.build();
    }

    // ---- checkpoints ----

    private void saveCheckpoint(AdamW opt, Position pos) {
        Path fin = out.resolve("checkpoint-" + pos.step);
        Path tmp = out.resolve("checkpoint-" + pos.step + ".tmp");
        try {
            deleteTree(tmp);
            Files.createDirectories(tmp);
            model.save(tmp);
            try (PointerScope scope = new PointerScope()) {
                OutputArchive a = new OutputArchive();
                opt.save(a);
                a.save_to(tmp.resolve("optimizer.pt").toString());
                Safetensors.write(tmp.resolve("rng_state.safetensors"),
                        Map.of("torch_cpu", torch.getDefaultCPUGenerator().get_state()), null);
            }
            ObjectNode s = JSON.createObjectNode();
            s.put("global_step", pos.step);
            s.put("epoch", pos.epoch);
            s.put("batch_in_epoch", pos.batchInEpoch);
            s.put("num_tokens", pos.numTokens);
            s.put("seed", train.seed());
            s.put("interval_loss", pos.intervalLoss);
            s.put("interval_weight", pos.intervalWeight);
            ObjectNode sums = s.putObject("interval_sums");
            pos.intervalSums.forEach(sums::put);
            ModelFiles.writeJson(tmp.resolve(STATE_FILE), s);
            deleteTree(fin);
            Files.move(tmp, fin, StandardCopyOption.ATOMIC_MOVE);
            pruneCheckpoints();
        } catch (IOException e) {
            throw new KeelException("cannot write checkpoint " + fin + ": " + e.getMessage(), e);
        }
    }

    private void restore(Path ckpt, AdamW opt, Position pos) {
        JsonNode s;
        try {
            s = JSON.readTree(Files.readString(ckpt.resolve(STATE_FILE)));
        } catch (IOException e) {
            throw new KeelException(ckpt.resolve(STATE_FILE) + ": cannot read: " + e.getMessage(), e);
        }
        if (s.path("seed").asLong() != train.seed()) {
            throw new KeelException(ckpt + " was written with --seed " + s.path("seed").asLong() + ", not "
                    + train.seed() + "; resume with the same settings");
        }
        model.load(ckpt);
        InputArchive in = new InputArchive();
        in.load_from(ckpt.resolve("optimizer.pt").toString());
        opt.load(in);
        Safetensors.Header h = Safetensors.readHeader(ckpt.resolve("rng_state.safetensors"));
        torch.getDefaultCPUGenerator().set_state(Safetensors.read(h, "torch_cpu"));
        pos.step = s.path("global_step").asLong();
        pos.epoch = s.path("epoch").asInt();
        pos.batchInEpoch = s.path("batch_in_epoch").asInt();
        pos.numTokens = s.path("num_tokens").asDouble();
        pos.intervalLoss = s.path("interval_loss").asDouble();
        pos.intervalWeight = s.path("interval_weight").asDouble();
        s.path("interval_sums").fields().forEachRemaining(e -> pos.intervalSums.put(e.getKey(), e.getValue().asDouble()));
        info.accept("keel: resuming from " + ckpt + " (step " + pos.step + ")");
    }

    /** The complete checkpoint with the highest step in {@code dir}, or null. */
    public static Path latestCheckpoint(Path dir) {
        if (!Files.isDirectory(dir)) {
            return null;
        }
        try (var s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().matches("checkpoint-\\d+"))
                    .filter(p -> Files.isRegularFile(p.resolve(STATE_FILE)))
                    .max(Comparator.comparingLong(TrainingLoop::stepOf)).orElse(null);
        } catch (IOException e) {
            throw new KeelException(dir + ": cannot list: " + e.getMessage(), e);
        }
    }

    private static long stepOf(Path p) {
        return Long.parseLong(p.getFileName().toString().substring("checkpoint-".length()));
    }

    private void pruneCheckpoints() throws IOException {
        List<Path> all;
        try (var s = Files.list(out)) {
            all = s.filter(p -> p.getFileName().toString().matches("checkpoint-\\d+"))
                    .sorted(Comparator.comparingLong(TrainingLoop::stepOf)).toList();
        }
        for (int i = 0; i < all.size() - train.saveTotalLimit(); i++) {
            deleteTree(all.get(i));
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        dev.keel.runtime.Proc.deleteTree(dir);
    }
}
