/**
 * The contributor group of later copies of content already submitted elsewhere: nobody's, earns
 * nothing. Its own module so the rewards and the report read it without loading the TF.js cells.
 */
export const DUPLICATE_CONTENT = "(duplicate content)";
