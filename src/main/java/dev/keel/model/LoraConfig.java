package dev.keel.model;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

import dev.keel.KeelException;

/**
 * The settings of LoRA adapters, with PEFT's {@code LoraConfig} names and defaults (r 8, alpha 8, dropout 0).
 *
 * @param r             the rank of each update B A
 * @param alpha         {@code lora_alpha}: the update is scaled by alpha / r ({@link Lora#scaling})
 * @param dropout       {@code lora_dropout}: dropout on the adapter's input while training
 * @param targetModules module names as PEFT matches them (a module is adapted when its name is one of them or
 *                      ends with "." + one of them), or the single entry {@link #ALL_LINEAR}
 * @param rslora        {@code use_rslora}: scale by alpha / sqrt(r) instead
 */
public record LoraConfig(int r, double alpha, double dropout, List<String> targetModules, boolean rslora) {
    /** PEFT's shorthand for every linear layer but the output head. */
    public static final String ALL_LINEAR = "all-linear";

    public LoraConfig {
        if (r < 1) {
            throw new IllegalArgumentException("--lora-r must be at least 1, got " + r);
        }
        if (!(alpha > 0) || Double.isInfinite(alpha)) {
            throw new IllegalArgumentException("--lora-alpha must be a positive number, got " + alpha);
        }
        if (!(dropout >= 0 && dropout < 1)) {
            throw new IllegalArgumentException("--lora-dropout must be within [0, 1), got " + dropout);
        }
        if (targetModules.isEmpty() || targetModules.stream().anyMatch(String::isBlank)) {
            throw new IllegalArgumentException("--lora-target-modules needs at least one module name, got " + targetModules);
        }
        if (targetModules.contains(ALL_LINEAR) && targetModules.size() > 1) {
            throw new IllegalArgumentException("--lora-target-modules " + ALL_LINEAR + " stands alone, got " + targetModules);
        }
        targetModules = List.copyOf(targetModules);
    }

    /** PEFT's defaults at rank {@code r}: alpha 8, no dropout, the default modules of {@code modelType}. */
    public static LoraConfig defaults(int r, String modelType) {
        return new LoraConfig(r, 8, 0, defaultTargets(modelType), false);
    }

    /**
     * The modules PEFT adapts when none are named ({@code TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING}):
     * the query and value projections.
     */
    public static List<String> defaultTargets(String modelType) {
        return modelType.equals("gpt2") ? List.of("c_attn") : List.of("q_proj", "v_proj");
    }

    /** alpha / r (or alpha / sqrt(r) with rslora). */
    public double scaling() {
        return Lora.scaling(alpha, r, rslora);
    }

    /** Whether module {@code name} is adapted: PEFT's {@code check_target_module_exists} for a list of names. */
    public boolean targets(String name) {
        if (targetModules.equals(List.of(ALL_LINEAR))) {
            return true;
        }
        for (String t : targetModules) {
            if (name.equals(t) || name.endsWith("." + t)) {
                return true;
            }
        }
        return false;
    }

    /**
     * The modules among {@code linear} (the model's linear layers, output head excluded) that are adapted; a target
     * that matches none is an error (for the names a user types: a misspelt module is never silently left out).
     */
    public List<String> select(List<String> linear, String modelType) {
        return select(linear, modelType, true);
    }

    /**
     * As {@link #select(List, String)}, for an adapter's saved {@code target_modules}: as PEFT's
     * {@code BaseTuner.inject_adapter}, an error only when no target matches any module ("Target modules ... not
     * found in the base model"); names that match nothing (another architecture's, or a head PEFT listed) are skipped.
     */
    public List<String> selectAny(List<String> linear, String modelType) {
        return select(linear, modelType, false);
    }

    private List<String> select(List<String> linear, String modelType, boolean everyTarget) {
        List<String> out = new ArrayList<>();
        for (String m : linear) {
            if (targets(m)) {
                out.add(m);
            }
        }
        if (!targetModules.equals(List.of(ALL_LINEAR))) {
            for (String t : targetModules) {
                if ((everyTarget || out.isEmpty()) && linear.stream().noneMatch(m -> m.equals(t) || m.endsWith("." + t))) {
                    throw new KeelException("LoRA target module '" + t + "' is " + (LoraAdapters.NOT_LINEAR.contains(t)
                            ? "an embedding or an output head, which Keel's LoRA does not adapt" : "not a linear layer")
                            + " of this " + modelType + " model (its linear layers: " + String.join(", ", leafNames(linear))
                            + ", or " + ALL_LINEAR + ")");
                }
            }
        }
        return out;
    }

    /** The last component of each module name, sorted: how PEFT records {@code all-linear} once expanded. */
    public static List<String> leafNames(List<String> modules) {
        TreeSet<String> s = new TreeSet<>();
        for (String m : modules) {
            s.add(m.substring(m.lastIndexOf('.') + 1));
        }
        return new ArrayList<>(s);
    }
}
