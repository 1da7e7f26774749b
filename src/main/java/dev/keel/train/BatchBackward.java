package dev.keel.train;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

import org.bytedeco.javacpp.PointerScope;

import dev.keel.model.BackwardPass;
import dev.keel.runtime.Lanes;
import dev.keel.tensor.Tensors;

/**
 * A batch's forward and backward as the training loop runs them: the loss sum divided by the step's weight is
 * back-propagated, in two halves side by side ({@link Lanes}, a core each) when the batch allows it.
 */
public final class BatchBackward {
    private BatchBackward() {}

    /**
     * One part's forward: its loss sum (not back-propagated when it is not finite) and what it adds to the metrics
     * ({@link Task.Output#lossSum} is null: the tensor is gone with its part's scope).
     */
    public record Part(double loss, Task.Output output) {}

    /**
     * Runs {@code examples} forward and back, their loss sum divided by {@code weight}, and returns the parts in
     * order. The examples split in two halves when there are two lanes, at least two examples, a loss that sums
     * over examples ({@link Task#sumsOverExamples}), {@code mayShare} (the caller's rule: one batch per step, since
     * with more a parameter's gradient would add three or more parts in whichever order the lanes end and float
     * addition does not associate, while two parts add the same either way; and a trained model whose backward
     * splits, {@link dev.keel.model.BackwardPass#splittable}).
     */
    public static <T> List<Part> run(Task<T> task, List<T> examples, double weight, boolean mayShare) {
        List<List<T>> parts = Lanes.count() < 2 || examples.size() < 2 || !mayShare || !task.sumsOverExamples()
                ? List.of(examples) : Lanes.halves(examples);
        List<Callable<Part>> pieces = new ArrayList<>();
        for (List<T> part : parts) {
            pieces.add(() -> {
                try (PointerScope scope = new PointerScope(); BackwardPass pass = BackwardPass.open()) {
                    Task.Output o = task.forward(part);
                    double loss = Tensors.item(o.lossSum());
                    if (Double.isFinite(loss)) {
                        pass.backward(o.lossSum().div(Tensors.s(weight)));
                    }
                    return new Part(loss, new Task.Output(null, o.metrics(), o.numTokens()));
                }
            });
        }
        return Lanes.run(pieces);
    }
}
