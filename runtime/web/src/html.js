// htm bound to Preact's h: tagged templates instead of JSX, so nothing but esbuild runs at build.
import htm from 'htm';
import { h } from 'preact';

export const html = htm.bind(h);
