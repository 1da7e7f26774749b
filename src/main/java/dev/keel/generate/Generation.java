package dev.keel.generate;

import java.util.List;

/**
 * What a batch of prompts produced, in prompt order.
 *
 * @param tokens   new tokens per prompt, including the EOS token when one ended the sequence
 * @param logProbs log-probability of each new token (see {@link Sampler#logProbs}); empty when the
 *                 {@link SamplingConfig} asked for none
 * @param finish   why each sequence ended
 */
public record Generation(List<long[]> tokens, List<float[]> logProbs, List<Finish> finish) {
    public enum Finish { EOS, STOP, LENGTH }
}
