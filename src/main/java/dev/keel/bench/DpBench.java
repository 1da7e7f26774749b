package dev.keel.bench;

import java.util.List;

import org.bytedeco.javacpp.PointerScope;

import dev.keel.data.LmExample;
import dev.keel.dist.Distributed;
import dev.keel.model.CausalLM;
import dev.keel.tensor.Tensors;
import dev.keel.train.FusedAdamW;
import dev.keel.train.LmTask;
import dev.keel.train.OptimConfig;
import dev.keel.train.Optimizers;

/**
 * One rank's side of {@code keel bench dp}: SFT steps on the sft case's global batch ({@link TrainBench#sftBatch}),
 * this rank running its shard, the gradients summed over the ranks in flat buckets, then AdamW. Times each step
 * and the all-reduces in it (waiting for the slower rank included).
 */
public final class DpBench {
    private DpBench() {}

    /**
     * @param secondsPerStep median over the timed steps
     * @param tokensPerSecond tokens of the global batch per second
     * @param reduceShare     all-reduce time / step time, summed over the timed steps
     */
    public record Result(double secondsPerStep, double tokensPerSecond, double reduceShare) {}

    /** One warm-up step, then {@code repeats} timed ones. */
    public static Result run(CausalLM model, TrainBench.Shape s, Distributed dist, int repeats) {
        List<LmExample> global = TrainBench.sftBatch(s);
        List<LmExample> mine = dist.shard(global);
        LmTask task = new LmTask(model, 0);
        double weight = task.weight(global);
        model.parameters().forEach(t -> t.set_requires_grad(true));
        FusedAdamW opt = Optimizers.adamW(model.weights(), OptimConfig.defaults(1e-5));
        double[] secs = new double[repeats];
        double stepTotal = 0;
        double reduceTotal = 0;
        for (int i = -1; i < repeats; i++) {
            long t0 = System.nanoTime();
            double r0 = dist.reduceSeconds();
            try (PointerScope scope = new PointerScope()) {
                task.forward(mine).lossSum().div(Tensors.s(weight)).backward();
                dist.sumGradients(model.parameters());
                Optimizers.step(opt, model.parameters(), 1e-5, 1.0);
            }
            if (i >= 0) {
                secs[i] = (System.nanoTime() - t0) / 1e9;
                stepTotal += secs[i];
                reduceTotal += dist.reduceSeconds() - r0;
            }
        }
        opt.close();
        double sec = TrainBench.median(secs);
        return new Result(sec, (double) s.batch() * s.seq() / sec, reduceTotal / stepTotal);
    }
}
