import './base.css';
import './a11y.css';
