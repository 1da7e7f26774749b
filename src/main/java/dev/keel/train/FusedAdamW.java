package dev.keel.train;

import java.util.ArrayList;
import java.util.List;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Dispatcher;
import org.bytedeco.pytorch.GenericList;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.OperatorHandle;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorType;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.Tuple;
import org.bytedeco.pytorch.Type;
import org.bytedeco.pytorch.global.torch;

import dev.keel.KeelException;

/**
 * AdamW (Loshchilov &amp; Hutter 2019) stepped by ATen's fused kernel ({@code aten::_fused_adamw_}, what
 * {@code torch.optim.AdamW(fused=True)} calls): one pass over each parameter, its gradient and its two moments,
 * where libtorch's {@code torch::optim::AdamW} makes about ten (a multiply, an add, a square root, a division ...
 * each its own pass, with two temporaries the size of the parameter). The update is libtorch's and PyTorch's
 * AdamW: weight decay {@code p *= 1 - lr * wd}, then {@code m = beta1 m + (1 - beta1) g},
 * {@code v = beta2 v + (1 - beta2) g^2}, {@code p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)},
 * {@code t} counted per parameter; a parameter without a gradient is skipped and gets its moments at its first
 * gradient, as libtorch's. The state is written and read in libtorch's own {@code AdamW} archive layout, so
 * checkpoints written before this class (by libtorch's optimizer) resume here and the other way round.
 *
 * <p>Its tensors are held by C++ vectors attached to the {@link PointerScope} open where it is made, as
 * libtorch's optimizer object was: they go when that scope closes, or at {@link #close}.
 */
public final class FusedAdamW implements AutoCloseable {
    private static final OperatorHandle FUSED = find();
    private static final Type.TypePtr TENSOR = new Type.TypePtr(TensorType.get()).retainReference();

    /** A parameter group: its tensors and its decoupled weight decay. */
    private record Group(TensorVector params, double weightDecay) {}

    private final List<Group> groups = new ArrayList<>();
    private final double beta1;
    private final double beta2;
    private final double eps;
    private double lr;
    /** Per parameter, in group order: the first and second moments (undefined before its first gradient). */
    private final TensorVector expAvg = new TensorVector();
    private final TensorVector expAvgSq = new TensorVector();
    private long[] steps = new long[0];

    /** An AdamW with no groups yet; {@link #addGroup} gives it its parameters. */
    public FusedAdamW(double lr, double beta1, double beta2, double eps) {
        if (!(lr >= 0) || !(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(eps >= 0)) {
            throw new KeelException("AdamW: lr " + lr + ", betas (" + beta1 + ", " + beta2 + ") and eps " + eps
                    + " must be lr >= 0, 0 <= beta < 1, eps >= 0");
        }
        this.lr = lr;
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
    }

    /** Adds a group of parameters with its own decoupled weight decay. */
    public FusedAdamW addGroup(List<Tensor> group, double decay) {
        groups.add(new Group(new TensorVector(group.toArray(new Tensor[0])), decay));
        int n = count();
        expAvg.resize(n);
        expAvgSq.resize(n);
        steps = java.util.Arrays.copyOf(steps, n);
        return this;
    }

    /** The learning rate of every group from the next step on. */
    public void lr(double lr) {
        this.lr = lr;
    }

    /** How many steps parameter {@code index} (group order) has taken. */
    public long step(int index) {
        return steps[index];
    }

    /** Parameter {@code index}'s first moment, or an undefined tensor before its first gradient. */
    public Tensor expAvg(int index) {
        return expAvg.get(index);
    }

    /** Parameter {@code index}'s second moment, or an undefined tensor before its first gradient. */
    public Tensor expAvgSq(int index) {
        return expAvgSq.get(index);
    }

    /** One AdamW step over every parameter that has a gradient; none is changed when one's gradient is sparse. */
    public void step() {
        try (PointerScope scope = new PointerScope()) {
            Tensor[] grads = new Tensor[steps.length];
            int checked = 0;
            for (Group group : groups) {
                for (long j = 0; j < group.params().size(); j++, checked++) {
                    grads[checked] = group.params().get(j).grad();
                    if (grads[checked].defined() && grads[checked].is_sparse()) {
                        throw new KeelException("AdamW: parameter " + checked + " has a sparse gradient");
                    }
                }
            }
            int index = 0;
            for (Group group : groups) {
                List<Tensor> p = new ArrayList<>();
                List<Tensor> g = new ArrayList<>();
                List<Tensor> m = new ArrayList<>();
                List<Tensor> v = new ArrayList<>();
                List<Tensor> t = new ArrayList<>();
                for (long j = 0; j < group.params().size(); j++, index++) {
                    Tensor grad = grads[index];
                    if (!grad.defined()) {
                        continue;
                    }
                    Tensor param = group.params().get(j);
                    if (!expAvg.get(index).defined()) {
                        expAvg.put(index, torch.zeros_like(param));
                        expAvgSq.put(index, torch.zeros_like(param));
                    }
                    steps[index]++;
                    p.add(param);
                    g.add(grad.is_contiguous() ? grad : grad.contiguous());
                    m.add(expAvg.get(index));
                    v.add(expAvgSq.get(index));
                    t.add(torch.scalar_tensor(new Scalar((double) steps[index])));
                }
                if (!p.isEmpty()) {
                    IValueVector stack = new IValueVector(list(p), list(g), list(m), list(v), list(List.of()),
                            list(t), new IValue(lr), new IValue(beta1), new IValue(beta2),
                            new IValue(group.weightDecay()), new IValue(eps), new IValue(false), new IValue(false),
                            new IValue(), new IValue());
                    Dispatcher.singleton().callBoxed(FUSED, stack);
                }
            }
        }
    }

    /** Drops every gradient ({@code zero_grad(set_to_none=True)}). */
    public void zeroGrad() {
        try (PointerScope scope = new PointerScope()) {
            for (Group g : groups) {
                for (long j = 0; j < g.params().size(); j++) {
                    g.params().get(j).mutable_grad().reset();
                }
            }
        }
    }

    /** Frees the moments now (and this optimizer's hold on its parameters). */
    @Override
    public void close() {
        expAvg.close();
        expAvgSq.close();
        groups.forEach(g -> g.params().close());
    }

    private int count() {
        int n = 0;
        for (Group g : groups) {
            n += (int) g.params().size();
        }
        return n;
    }

    private static Tensor longScalar(long n) {
        return torch.scalar_tensor(new Scalar(n), new org.bytedeco.pytorch.TensorOptions(torch.ScalarType.Long));
    }

    private static IValue list(List<Tensor> tensors) {
        GenericList l = new GenericList(TENSOR);
        for (Tensor t : tensors) {
            l.push_back(new IValue(t));
        }
        return new IValue(l);
    }

    /**
     * Writes the state as libtorch's {@code AdamW::save}: {@code pytorch_version}; {@code state/<key>} with
     * {@code step}, {@code exp_avg} and {@code exp_avg_sq} for every parameter that has stepped (no
     * {@code max_exp_avg_sq}: libtorch leaves it out without amsgrad); {@code param_groups/param_groups/<i>} with
     * {@code params/size}, {@code params/<j>} (the keys) and
     * {@code options} (lr, betas, eps, weight_decay, amsgrad). A key is the parameter's index (libtorch's are
     * numbers too: the address of the parameter's tensor in the process that saved it).
     */
    public void save(OutputArchive archive) {
        archive.write("pytorch_version", new IValue("1.5.0"));
        OutputArchive state = new OutputArchive(archive.compilation_unit());
        OutputArchive groupsArchive = new OutputArchive(archive.compilation_unit());
        groupsArchive.write("param_groups/size", longScalar(groups.size()));
        int index = 0;
        for (int i = 0; i < groups.size(); i++) {
            Group g = groups.get(i);
            OutputArchive group = new OutputArchive(archive.compilation_unit());
            long n = g.params().size();
            group.write("params/size", longScalar(n));
            for (long j = 0; j < n; j++, index++) {
                String key = Integer.toString(index);
                group.write("params/" + j, new IValue(key));
                if (expAvg.get(index).defined()) {
                    OutputArchive s = new OutputArchive(archive.compilation_unit());
                    s.write("step", new IValue(steps[index]));
                    s.write("exp_avg", new IValue(expAvg.get(index)));
                    s.write("exp_avg_sq", new IValue(expAvgSq.get(index)));
                    state.write(key, s);
                }
            }
            OutputArchive options = new OutputArchive(archive.compilation_unit());
            options.write("lr", new IValue(lr));
            options.write("betas", new IValue(Tuple.create(new IValue(beta1), new IValue(beta2))));
            options.write("eps", new IValue(eps));
            options.write("weight_decay", new IValue(g.weightDecay()));
            options.write("amsgrad", new IValue(false));
            group.write("options", options);
            groupsArchive.write("param_groups/" + i, group);
        }
        archive.write("state", state);
        archive.write("param_groups", groupsArchive);
    }

    /**
     * Reads state written by {@link #save} or by libtorch's {@code AdamW::save} into this optimizer, whose groups
     * must hold as many parameters of the same shapes. The learning rate, betas and decay stay this optimizer's
     * (the run's options and schedule decide them, as before).
     */
    public void load(InputArchive archive) {
        InputArchive state = new InputArchive();
        archive.read("state", state);
        InputArchive groupsArchive = new InputArchive();
        archive.read("param_groups", groupsArchive);
        Tensor groupCount = new Tensor();
        if (groupsArchive.try_read("param_groups/size", groupCount) && groupCount.item_long() != groups.size()) {
            throw new KeelException("the optimizer state has " + groupCount.item_long() + " parameter groups where "
                    + "this run has " + groups.size());
        }
        int index = 0;
        long[] loadedSteps = new long[steps.length];
        Tensor[] m = new Tensor[steps.length];
        Tensor[] v = new Tensor[steps.length];
        for (int g = 0; g < groups.size(); g++) {
            InputArchive group = new InputArchive();
            if (!groupsArchive.try_read("param_groups/" + g, group)) {
                throw new KeelException("the optimizer state has fewer than the " + groups.size()
                        + " parameter groups of this run");
            }
            Tensor size = new Tensor();
            group.read("params/size", size);
            long n = groups.get(g).params().size();
            if (size.item_long() != n) {
                throw new KeelException("parameter group " + g + " of the optimizer state has " + size.item_long()
                        + " parameters where this run's has " + n);
            }
            for (long j = 0; j < n; j++, index++) {
                IValue key = new IValue();
                group.read("params/" + j, key);
                InputArchive s = new InputArchive();
                if (!state.try_read(key.toStringRef().getString(), s)) {
                    continue;                // the parameter had not stepped
                }
                IValue step = new IValue();
                s.read("step", step);
                IValue a = new IValue();
                s.read("exp_avg", a);
                IValue b = new IValue();
                s.read("exp_avg_sq", b);
                Tensor param = groups.get(g).params().get(j);
                m[index] = a.toTensor();
                v[index] = b.toTensor();
                for (Tensor t : new Tensor[] {m[index], v[index]}) {
                    long[] got = t.sizes().vec().get();
                    long[] want = param.sizes().vec().get();
                    if (!java.util.Arrays.equals(got, want)) {
                        throw new KeelException("the optimizer state of parameter " + index + " has shape "
                                + java.util.Arrays.toString(got) + " where the parameter has "
                                + java.util.Arrays.toString(want));
                    }
                }
                m[index] = m[index].to(param.device(), param.scalar_type());
                v[index] = v[index].to(param.device(), param.scalar_type());
                loadedSteps[index] = step.toInt();
            }
        }
        for (int i = 0; i < steps.length; i++) {
            expAvg.put(i, m[i] == null ? new Tensor() : m[i]);
            expAvgSq.put(i, v[i] == null ? new Tensor() : v[i]);
        }
        steps = loadedSteps;
    }

    private static OperatorHandle find() {
        try {
            return Dispatcher.singleton().findSchemaOrThrow("aten::_fused_adamw_", "").retainReference();
        } catch (RuntimeException e) {
            throw new KeelException("this libtorch has no aten::_fused_adamw_ (" + e.getMessage() + ")", e);
        }
    }
}
