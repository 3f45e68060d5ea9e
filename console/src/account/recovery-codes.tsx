import { useEffect, useRef, useState } from 'preact/hooks';
import { Button } from '../ui/button';
import { Notice } from '../ui/notice';

/** The recovery codes, shown this once: copy them, download them, then say they are stored. */
export function RecoveryCodes(props: { codes: string[]; onDone: () => void }) {
  const [copied, setCopied] = useState<string>();
  const heading = useRef<HTMLParagraphElement>(null);
  useEffect(() => heading.current?.focus(), []);
  const text = `Gatehouse recovery codes (each works once)\n\n${props.codes.join('\n')}\n`;
  const copy = () => {
    navigator.clipboard.writeText(text).then(
      () => setCopied('Copied to the clipboard.'),
      () => setCopied('The browser did not allow copying: select the codes and copy them.'),
    );
  };
  const download = () => {
    const url = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
    const link = document.createElement('a');
    link.href = url;
    link.download = 'gatehouse-recovery-codes.txt';
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  };
  return (
    <>
      <p ref={heading} tabIndex={-1} class="lead">
        Each code signs you in once if you lose your phone. They are shown only now: store them somewhere
        safe.
      </p>
      <ol class="codes" aria-label="Recovery codes">
        {props.codes.map((code) => (
          <li key={code}>
            <code>{code}</code>
          </li>
        ))}
      </ol>
      <div class="actions">
        <Button variant="secondary" onClick={copy}>
          Copy
        </Button>
        <Button variant="secondary" onClick={download}>
          Download
        </Button>
        <Button onClick={props.onDone}>I have stored them</Button>
      </div>
      {copied && <Notice kind="info">{copied}</Notice>}
    </>
  );
}
